from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import build_cli
from app.contract.ddi_table import read_ddi_csv
from app.contract.names import INPUT_FORMATS
from tests.training.data.ehr_factory import random_patients
from training.data.dataset import Dataset
from training.data.ingest import READERS, IngestError, ingest, read, reader_options
from training.data.synth import SynthConfig, write_mimic3_export
from training.data.writers.fhir import write_fhir_export
from training.data.writers.mimic4 import write_mimic4_export


@pytest.fixture(scope="module")
def mimic3_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    write_mimic3_export(SynthConfig(patients=30, seed=1), out)
    return out


def test_every_input_format_has_a_reader() -> None:
    assert tuple(READERS) == INPUT_FORMATS
    for fmt in INPUT_FORMATS:
        reader_options(fmt)  # imports the reader and its config


def test_every_export_format_takes_the_shared_filters() -> None:
    for fmt in INPUT_FORMATS:
        if fmt != "benchmark-json":
            assert {"top_diagnoses", "min_visits", "require_all_tables"} <= set(reader_options(fmt))
            assert "filters" not in reader_options(fmt)
    assert reader_options("benchmark-json") == {}
    assert reader_options("mimic4")["atc_mapping"] == "Path | None"


def test_options_a_format_does_not_take_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="option 'snomed_conditions' is not known to the mimic4"):
        read("mimic4", tmp_path, {"snomed_conditions": tmp_path / "x.csv"})
    with pytest.raises(IngestError, match="options 'a', 'b' are not known to the fhir reader"):
        read("fhir", tmp_path, {"b": 1, "a": 2})
    with pytest.raises(
        IngestError, match="'x' is not known to the benchmark-json reader; it takes no"
    ):
        read("benchmark-json", tmp_path, {"x": 1})
    with pytest.raises(IngestError, match="unknown format 'hl7v2'"):
        read("hl7v2", tmp_path)
    with pytest.raises(IngestError, match="mimic3 reader options: .*min_visits"):
        read("mimic3", tmp_path, {"min_visits": 0})
    with pytest.raises(IngestError, match="omop reader options: .*top_n_diagnoses"):
        read("omop", tmp_path, {"top_diagnoses": 0})


def test_mimic3_takes_the_shared_filters(mimic3_export: Path, tmp_path: Path) -> None:
    options = {"min_visits": 1, "top_diagnoses": None, "require_all_tables": False}
    manifest = ingest("mimic3", mimic3_export, tmp_path / "ds", options)
    assert manifest.source_format == "mimic3" and manifest.patients == 30
    names = [f.name for f in manifest.filters]
    assert "visits.with_codes" in names and "diagnoses.top_n" not in names


def test_the_literature_ddi_table_is_written_inside_the_dataset(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "records.json").write_text(json.dumps([[[[0], [0], [0, 1]]]]))
    vocab = {"diag": ["4019"], "proc": ["3893"], "med": ["N02B", "B01A"]}
    (tmp_path / "in" / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "in" / "ddi_adj.json").write_text(json.dumps([[0, 1]]))
    manifest = ingest("benchmark-json", tmp_path / "in", tmp_path / "ds")
    assert manifest.patients == 1
    assert len(read_ddi_csv(tmp_path / "ds" / "ddi.csv")) == 1


def test_cli_ingest_mimic4(tmp_path: Path) -> None:
    patients = random_patients(6, seed=13)
    mapping = write_mimic4_export(patients, tmp_path / "export")
    args = ["ingest", "--format", "mimic4", "--input", str(tmp_path / "export")]
    args += ["--out", str(tmp_path / "ds")]
    result = CliRunner().invoke(
        build_cli(), [*args, "--atc-map", str(mapping), "--top-diagnoses", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "6 patients" in result.output and "patients.min_visits" in result.output
    assert Dataset(tmp_path / "ds").load() == patients


def test_cli_ingest_refuses_foreign_options(tmp_path: Path, mimic3_export: Path) -> None:
    write_fhir_export(random_patients(2), tmp_path / "fhir")
    args = ["ingest", "--format", "fhir", "--input", str(tmp_path / "fhir")]
    args += ["--out", str(tmp_path / "ds")]
    result = CliRunner().invoke(build_cli(), [*args, "--first-24h"])
    assert result.exit_code == 2
    assert "first_24h" in result.output
    args = ["ingest", "--format", "mimic3", "--input", str(mimic3_export)]
    result = CliRunner().invoke(
        build_cli(), [*args, "--out", str(tmp_path / "ds"), "--no-vocabulary"]
    )
    assert result.exit_code == 2
    assert "use_vocabulary" in result.output
    args = ["ingest", "--format", "benchmark-json", "--input", str(tmp_path)]
    result = CliRunner().invoke(
        build_cli(), [*args, "--out", str(tmp_path / "ds"), "--min-visits", "1"]
    )
    assert result.exit_code == 2
    assert "min_visits" in result.output
    assert not (tmp_path / "ds").exists()


def test_cli_ingest_knows_only_the_input_formats(tmp_path: Path) -> None:
    args = ["ingest", "--format", "hl7", "--input", str(tmp_path), "--out", str(tmp_path / "ds")]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 2
    assert "mimic3" in result.output and "benchmark-json" in result.output
