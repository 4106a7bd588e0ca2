from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from app.contract.manifest import recommender_specs
from models.gamenet import GAMENet, GAMENetConfig
from training.export.artifact import export_onnx
from training.gamenet.export import ROLES, GAMENetInference, random_feeds

ND, NP, M = 30, 12, 9


def _model() -> GAMENet:
    torch.manual_seed(0)
    ehr = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    ddi = torch.tensor([[0, 5], [5, 0]])
    model = GAMENet(GAMENetConfig(num_diag_codes=ND, num_proc_codes=NP, num_meds=M), ehr, ddi)
    with torch.no_grad():  # move away from init so the test is not trivially easy
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[GAMENetInference, Path]:
    wrapper = GAMENetInference(_model())
    inputs, outputs = recommender_specs(ROLES, M)
    feeds = random_feeds(ND, NP, M, patients=8, max_visits=4, max_codes=5)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(wrapper, feeds, inputs, outputs, path)
    return wrapper, path


@pytest.mark.slow
def test_onnx_matches_torch_on_100_random_patients(exported) -> None:
    wrapper, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = random_feeds(ND, NP, M, patients=100, max_visits=7, max_codes=11, seed=3)
    assert int(feeds["visit_mask"].sum(1).eq(1).sum()) >= 1  # single-visit patients included
    got = session.run(None, {k: v.numpy() for k, v in feeds.items()})[0]
    with torch.no_grad():
        expected = wrapper(*feeds.values()).numpy()
    assert got.shape == (100, M)
    assert np.abs(got - expected).max() <= 1e-5
    # other shapes than the export example (dynamic B, V, Cd, Cp), down to one patient
    one = random_feeds(ND, NP, M, patients=1, max_visits=1, max_codes=1, seed=4)
    got = session.run(None, {k: v.numpy() for k, v in one.items()})[0]
    with torch.no_grad():
        assert np.abs(got - wrapper(*one.values()).numpy()).max() <= 1e-5


@pytest.mark.slow
def test_the_graph_has_the_memory_bank_as_a_constant_and_no_scatter(exported) -> None:
    _, path = exported
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not any("Scatter" in op for op in ops)
    names = [i.name for i in onnx.load(str(path)).graph.input]
    assert names == ["diag_ids", "diag_mask", "proc_ids", "proc_mask", "med_history", "visit_mask"]


def test_the_wrapper_scores_the_last_real_visit() -> None:
    model = _model()
    wrapper = GAMENetInference(model)
    feeds = random_feeds(ND, NP, M, patients=6, max_visits=4, max_codes=5, seed=1)
    with torch.no_grad():
        probs = wrapper(*feeds.values())
        logits = model(*feeds.values())
    last = feeds["visit_mask"].sum(1).long() - 1
    expected = torch.sigmoid(logits[torch.arange(6), last])
    torch.testing.assert_close(probs, expected)


def test_random_feeds_follow_the_role_contract() -> None:
    feeds = random_feeds(ND, NP, M, patients=5, max_visits=3, max_codes=4)
    assert feeds["diag_ids"].dtype == torch.int64 and feeds["diag_mask"].dtype == torch.float32
    assert json.dumps([list(f.shape) for f in feeds.values()])
    last = feeds["visit_mask"].sum(1).long() - 1
    assert feeds["med_history"][torch.arange(5), last].sum() == 0
    assert (feeds["diag_mask"].sum(-1) > 0).float().eq(feeds["visit_mask"]).all()
