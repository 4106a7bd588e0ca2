from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import build_cli
from tests.training.data.ehr_factory import random_patients
from training.data.dataset import Dataset
from training.data.ehr_pipeline import EhrFilterConfig
from training.data.export_formats import ExportOptions, ingest_export, read_export
from training.data.writers.fhir import write_fhir_export
from training.data.writers.mimic4 import write_mimic4_export


def test_options_a_format_does_not_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not take: snomed_conditions"):
        read_export("mimic4", tmp_path, ExportOptions(snomed_conditions=tmp_path / "x.csv"))
    with pytest.raises(ValueError, match="unknown export format"):
        read_export("hl7v2", tmp_path, ExportOptions())


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


def test_cli_ingest_fhir_refuses_foreign_option(tmp_path: Path) -> None:
    write_fhir_export(random_patients(2), tmp_path / "fhir")
    args = ["ingest", "--format", "fhir", "--input", str(tmp_path / "fhir")]
    args += ["--out", str(tmp_path / "ds")]
    result = CliRunner().invoke(build_cli(), [*args, "--first-24h"])
    assert result.exit_code == 2
    assert "first_24h" in result.output
    args = ["ingest", "--format", "mimic3", "--input", str(tmp_path / "fhir")]
    result = CliRunner().invoke(
        build_cli(), [*args, "--out", str(tmp_path / "ds"), "--no-vocabulary"]
    )
    assert result.exit_code == 2
    assert "use_vocabulary" in result.output
    assert not (tmp_path / "ds").exists()


def test_one_entry_point_also_ingests_mimic3(tmp_path: Path) -> None:
    from training.data.synth import SynthConfig, write_mimic3_export

    write_mimic3_export(SynthConfig(patients=30, seed=1), tmp_path / "export")
    options = ExportOptions(filters=EhrFilterConfig(min_visits=1))
    manifest = ingest_export("mimic3", tmp_path / "export", tmp_path / "ds", options)
    assert manifest.source_format == "mimic3" and manifest.patients > 0
    with pytest.raises(ValueError, match="does not take: use_vocabulary"):
        ingest_export("mimic3", tmp_path, tmp_path / "x", ExportOptions(use_vocabulary=False))
    with pytest.raises(ValueError, match="takes no options"):
        ingest_export("benchmark-json", tmp_path, tmp_path / "x", options)
