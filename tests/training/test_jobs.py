"""The GAMENet toolkit's ingest step on bad input: clear messages, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.contract.errors import JobInputError
from training.data import ingest
from training.data.synth import SynthConfig, write_mimic3_export
from training.jobs import Toolkit


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "mimic3"
    write_mimic3_export(SynthConfig(patients=30, seed=5), out)
    return out


def _ingest(export: Path, out: Path, fmt: str = "mimic3", **options: object) -> None:
    Toolkit().ingest(fmt, export, out, dict(options))


def test_a_good_export_is_ingested_with_its_report(export: Path, tmp_path: Path) -> None:
    summary = Toolkit().ingest("mimic3", export, tmp_path / "ds", {"top_diagnoses": 500})
    assert summary["patients"] > 0 and (tmp_path / "ds" / "patients.jsonl").is_file()
    assert any(f["name"] == "diagnoses.top_n" for f in summary["filters"])


def test_wrong_format_names_the_missing_file(export: Path, tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="vocab.json|records.json"):
        _ingest(export, tmp_path / "ds", "benchmark-json")
    assert not (tmp_path / "ds").exists()


def test_a_missing_table_is_named(export: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for p in export.iterdir():
        if p.name != "PRESCRIPTIONS.csv":
            (partial / p.name).write_bytes(p.read_bytes())
    with pytest.raises(JobInputError, match="PRESCRIPTIONS.csv") as info:
        _ingest(partial, tmp_path / "ds")
    assert str(partial) not in str(info.value)  # server paths are not shown
    assert not (tmp_path / "ds").exists()


def test_an_empty_result_names_the_filter_and_its_counts(export: Path, tmp_path: Path) -> None:
    with pytest.raises(JobInputError) as info:
        _ingest(export, tmp_path / "ds", min_visits=99)
    message = str(info.value)
    assert "patients.min_visits left no rows" in message
    assert "patients.min_visits kept 0 of" in message
    assert not (tmp_path / "ds").exists()


def test_reader_options_are_checked(export: Path, tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="'colour' is not known to the mimic3 reader"):
        _ingest(export, tmp_path / "ds", colour="red")
    with pytest.raises(JobInputError, match="no such file in the upload"):
        _ingest(export, tmp_path / "ds", atc_mapping="../../etc/passwd")
    with pytest.raises(JobInputError, match="min_visits"):
        _ingest(export, tmp_path / "ds", min_visits=0)


def test_a_format_without_a_reader_in_this_build(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ingest.READERS, "hl7", ingest.Reader("training.data.hl7", "read_hl7", None))
    with pytest.raises(JobInputError, match="format 'hl7' has no reader in this build"):
        _ingest(export, tmp_path / "ds", "hl7")


@pytest.mark.parametrize("fmt", ["mimic4", "omop", "fhir"])
def test_the_other_export_formats_are_dispatched_to_their_readers(fmt: str, tmp_path: Path) -> None:
    from tests.training.data.ehr_factory import random_patients
    from training.data.writers.fhir import write_fhir_export
    from training.data.writers.mimic4 import write_mimic4_export
    from training.data.writers.omop import write_omop_export

    patients = random_patients(8, seed=2)
    export = tmp_path / "export"
    options: dict[str, object] = {}
    if fmt == "fhir":
        write_fhir_export(patients, export)
    else:
        writer = write_mimic4_export if fmt == "mimic4" else write_omop_export
        mapping = writer(patients, export)
        if fmt == "mimic4":
            (export / "map.csv").write_bytes(mapping.read_bytes())
            options["atc_mapping"] = "map.csv"  # a file of the upload, named relatively
    summary = Toolkit().ingest(fmt, export, tmp_path / "ds", options)
    assert summary["patients"] == 8
