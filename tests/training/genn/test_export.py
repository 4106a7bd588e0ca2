import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from app.contract.manifest import Manifest
from tests.training.genn.factories import tiny_run
from training.export.artifact import max_parity_error
from training.export.runner import export_run
from training.genn.export import build, load_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return tiny_run(tmp_path_factory.mktemp("genn"))


def test_run_dir_contents(run_dir: Path) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "run.json",
        "best.ckpt",
        "last.ckpt",
        "metrics.json",
        "report.md",
        "curves.png",
    } <= names
    run = json.loads((run_dir / "run.json").read_text())
    assert run["model"] == "genn" and len(run["data"]["fingerprint"]) == 64
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["bootstrap_test"]) == {"genn", "gnn", "mlp"}
    ckpt = torch.load(run_dir / "best.ckpt", weights_only=True)
    assert ckpt["model_config"]["num_types"] == 3


def test_wrapper_matches_model_and_is_symmetric(run_dir: Path) -> None:
    wrapper, feeds, *_ = build(run_dir)
    _, _, model, ckpt = load_run(run_dir)
    pairs = torch.tensor([[0, 3], [3, 0], [2, 7]])
    with torch.no_grad():
        out = wrapper(pairs)
        canon = torch.sort(pairs, dim=1).values
        ref = torch.sigmoid(
            model(ckpt["x"], ckpt["export_edge_index"], ckpt["export_edge_attr"], canon)
        )
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(out[0], out[1])


def test_onnx_parity_and_manifest(run_dir: Path, tmp_path: Path) -> None:
    manifest = export_run(run_dir, tmp_path / "art", version=3)
    assert manifest.name == "genn" and manifest.version == 3
    assert manifest.input_for("pairs") is not None
    assert manifest.outputs[0].role == "type_probabilities"
    assert manifest.vocab["types"] == ["bleeding", "qt_prolongation", "serotonin"]
    assert manifest.dataset.source_format == "ddi-table"
    assert manifest.ddi_source is not None and manifest.ddi_source.pairs == 30
    assert manifest.synthetic
    features = manifest.training["node_features"]  # a DDI table has none: the projection
    assert features["kind"] == "random-projection" and features["dim"] == 32
    assert features["note"].startswith("no drugs.csv")
    Manifest.model_validate_json((tmp_path / "art" / "manifest.json").read_text())

    wrapper, _, *_ = build(run_dir)
    n = len(manifest.vocab["drug"])
    pairs = torch.tensor([[i, j] for i in range(n) for j in range(n) if i != j])
    assert max_parity_error(wrapper, tmp_path / "art" / "model.onnx", {"pairs": pairs}) < 1e-5
    session = ort.InferenceSession(str(tmp_path / "art" / "model.onnx"))
    one = session.run(None, {"pairs": np.array([[1, 2]], dtype=np.int64)})[0]
    assert one.shape == (1, 3) and one.dtype == np.float32
