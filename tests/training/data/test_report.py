from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from app.cli import build_cli
from training.data.dataset import FilterEffect
from training.data.records import Code, Patient, Visit
from training.data.report import load_report, render_report, summarize


def _patients() -> list[Patient]:
    dx, proc = Code("icd9cm", "4019"), Code("icd9proc", "3893")
    one = Visit("1", None, (dx,), (proc,), ("B01A", "N02B"))
    two = Visit("2", None, (dx, Code("icd10cm", "I10")), (), ("B01A",))
    return [Patient("a", (one, two)), Patient("b", (one,))]


def test_summarize_counts_sizes_and_systems() -> None:
    effect = FilterEffect("patients.min_visits", {"min_visits": 2}, 10, 4, 5, 2)
    report = summarize(_patients(), source="test", filters=[effect], notes=["hello"])
    assert (report.patients, report.visits) == (2, 3)
    assert report.visits_per_patient == {2: 1, 1: 1}
    assert report.per_visit["medications"] == {2: 2, 1: 1}
    assert report.distinct == {"diagnoses": 2, "procedures": 1, "medications": 2}
    assert report.systems == {"icd9cm": 3, "icd10cm": 1, "icd9proc": 2}
    assert report.top_meds[0] == ("B01A", 3)
    console = Console(record=True, width=160)
    render_report(report, console)
    text = console.export_text()
    assert "patients.min_visits" in text and "min_visits=2" in text
    assert "icd10cm: 1" in text and "note: hello" in text


def test_cli_synth_report_ingest(tmp_path: Path) -> None:
    runner = CliRunner()
    export, dataset = tmp_path / "export", tmp_path / "dataset"
    result = runner.invoke(
        build_cli(), ["synth", "--patients", "40", "--seed", "2", "--out", str(export)]
    )
    assert result.exit_code == 0, result.output
    assert (export / "PRESCRIPTIONS.csv").is_file() and (export / "ddi.csv").is_file()
    result = runner.invoke(build_cli(), ["data", "report", str(export)])
    assert result.exit_code == 0, result.output
    assert "visits.in_all_tables" in result.output
    args = ["ingest", "--format", "mimic3", "--input", str(export), "--out", str(dataset)]
    result = runner.invoke(build_cli(), [*args, "--min-visits", "1", "--top-diagnoses", "0"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "prescriptions.map_ndc_to_atc3" in result.output
    report = load_report(dataset)
    assert report.source == "mimic3" and report.patients > 30
    assert len(report.extra["fingerprint"]) == 64
    assert runner.invoke(build_cli(), args).exit_code != 0  # exists, no --overwrite


def test_cli_bad_input_is_one_line_without_trace(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "DIAGNOSES_ICD.csv").write_text("")
    args = ["ingest", "--format", "mimic3", "--input", str(tmp_path / "export")]
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", *args, "--out", str(tmp_path / "ds")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ds").exists()
