"""End to end from the CLI: dataset → `medrec train gamenet` → `medrec export` → onnxruntime."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from app.cli import build_cli
from training.gamenet.export import random_feeds

DIAG = ["4019", "25000", "4280", "42731", "5849", "51881", "2724", "5990", "2859", "V4581"]
PROC = ["3893", "9604", "9671", "3995", "8856"]
MEDS = ["N02B", "A02B", "B01A", "C07A", "C03C", "A12C", "N05C", "J01D"]


def write_literature_fixture(root: Path, patients: int = 48, seed: int = 0) -> Path:
    """A tiny benchmark in the GAMENet/SafeDrug JSON layout (indices include an unused token)."""
    rng = random.Random(seed)
    vocab = {"diag": ["<pad>", *DIAG], "proc": ["<pad>", *PROC], "med": MEDS}
    records = []
    for _ in range(patients):
        visits = []
        for _ in range(rng.randint(1, 4)):
            dx = rng.sample(range(1, len(vocab["diag"])), rng.randint(1, 4))
            px = rng.sample(range(1, len(vocab["proc"])), rng.randint(1, 2))
            meds = sorted({d % len(MEDS) for d in dx} | {px[0]})
            visits.append([dx, px, meds])
        records.append(visits)
    root.mkdir(parents=True)
    (root / "records.json").write_text(json.dumps(records))
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "ddi_adj.json").write_text(json.dumps([[0, 2], [3, 4]]))
    return root


def _check_artifact(artifact: Path, *, synthetic: bool) -> None:
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["name"] == "gamenet" and manifest["synthetic"] is synthetic
    assert manifest["training"]["parity_max_abs_error"] <= 1e-5
    sizes = [len(manifest["vocab"][k]) for k in ("diag", "proc", "med")]
    session = ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = random_feeds(*sizes, patients=3, max_visits=2, max_codes=3)
    (probs,) = session.run(None, {k: v.numpy() for k, v in feeds.items()})
    assert probs.shape == (3, sizes[2]) and np.all((probs >= 0) & (probs <= 1))


@pytest.mark.slow
def test_literature_benchmark_trains_and_exports(tmp_path: Path) -> None:
    runner = CliRunner()
    bench, dataset = write_literature_fixture(tmp_path / "bench"), tmp_path / "dataset"
    ingest = ["ingest", "--format", "benchmark-json", "--input", str(bench), "--out", str(dataset)]
    assert runner.invoke(build_cli(), ingest).exit_code == 0
    run, artifact = tmp_path / "run", tmp_path / "artifact"
    args = ["train", "gamenet", "--data", str(dataset), "--out", str(run), "--epochs", "2"]
    result = runner.invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"]["source_format"] == "benchmark-json"
    assert metrics["dataset"]["split"]["method"] == "literature"
    assert metrics["ddi_source"]["pairs"] == 2  # the benchmark's own ddi_adj.json
    assert metrics["dataset"]["split"]["counts"] == {"train": 32, "val": 8, "test": 8}
    result = runner.invoke(build_cli(), ["export", str(run), "--out", str(artifact)])
    assert result.exit_code == 0, result.output
    _check_artifact(artifact, synthetic=False)


@pytest.mark.slow
def test_synthetic_export_trains_and_exports(tmp_path: Path) -> None:
    runner = CliRunner()
    export, dataset = tmp_path / "export", tmp_path / "dataset"
    assert (
        runner.invoke(build_cli(), ["synth", "--patients", "60", "--out", str(export)]).exit_code
        == 0
    )
    ingest = ["ingest", "--format", "mimic3", "--input", str(export), "--out", str(dataset)]
    assert runner.invoke(build_cli(), [*ingest, "--min-visits", "1"]).exit_code == 0
    run, artifact = tmp_path / "run", tmp_path / "artifact"
    args = ["train", "gamenet", "--data", str(dataset), "--out", str(run), "--epochs", "1"]
    result = runner.invoke(
        build_cli(), [*args, "--ddi", str(export / "ddi.csv"), "--split", "random"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        build_cli(), ["export", str(run), "--out", str(artifact), "--version", "3"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["version"] == 3
    assert manifest["vocab"] == json.loads((run / "vocab.json").read_text())
    assert manifest["dataset"]["split"]["method"] == "random"
    assert set(manifest["metrics"]) == {"test", "val", "test_tuned"}
    # the served threshold is the one the run tuned on validation
    assert (
        manifest["threshold"] == json.loads((run / "metrics.json").read_text())["tuned_threshold"]
    )
    assert set(manifest["baselines"]) == {"frequency", "nearest", "logistic_regression"}
    assert manifest["ddi_source"]["fingerprint"] and manifest["intended_use"]
    assert [i["role"] for i in manifest["inputs"]] == [i["name"] for i in manifest["inputs"]]
    assert (artifact / "report.md").is_file() and (artifact / "curves.png").is_file()
    # the version's evaluation report: the run beside the baselines on its held-out split, read
    # with the run's --ddi table (the dataset has no ddi.csv)
    page = (artifact / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4 and "<td>gamenet</td>" in page
    assert json.loads((run / "run.json").read_text())["synthetic"] is True  # SYNTHETIC.json
    _check_artifact(artifact, synthetic=True)


def test_a_missing_dataset_is_one_clear_error(tmp_path: Path) -> None:
    args = ["train", "gamenet", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code != 0
    assert isinstance(result.exception, FileNotFoundError)
    assert "not a MedRec dataset" in str(result.exception)
