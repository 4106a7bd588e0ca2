from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from app.contract.visits import RawVisit
from app.inference.onnx import OrtOptions, open_session, read_manifest
from app.inference.recommender import Recommender
from models.gbert.config import GBertConfig
from models.gbert.model import GBertRecommender
from tests.models.gbert.conftest import chain_graph
from tests.training.ensemble.conftest import QUICK, EnsembleRun, make_ensemble_run
from tests.training.gbert.conftest import tiny_config
from training.data.records import Patient
from training.data.splits import SplitConfig
from training.ensemble.calibration import Platt
from training.ensemble.export import EnsembleInference
from training.ensemble.patterns import NUM_BUCKETS
from training.ensemble.predict import load_predictor
from training.ensemble.predictor import EnsemblePredictor, EnsembleSpec
from training.ensemble.run import train
from training.export.runner import export_run
from training.gamenet.data import prepare_data
from training.gamenet.export import ROLES, random_feeds
from training.gbert.batches import med_tokens
from training.gbert.export import PROC_ROLES, serving_module
from training.gbert.run import train as train_gbert

PARITY = 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[EnsembleRun, Path]:
    root = tmp_path_factory.mktemp("ensemble-export")
    run = make_ensemble_run(root)
    artifact = root / "artifact"
    export_run(run.ensemble, artifact, version=3)
    return run, artifact


def numpy_ensemble(run: EnsembleRun) -> tuple[EnsemblePredictor, list[Patient]]:
    """The ensemble's numpy definition over its member predictors, and the held-out patients."""
    data = prepare_data(run.data, SplitConfig(method="literature"))
    return load_predictor(run.ensemble), [*data.split.val, *data.split.test]


def raw_visits(patient: Patient, upto: int) -> list[RawVisit]:
    """The first ``upto + 1`` visits of ``patient`` as a client sends them."""
    return [
        RawVisit(
            diagnoses=[(c.system, c.code) for c in v.diagnoses],
            procedures=[(c.system, c.code) for c in v.procedures],
            medications=list(v.medications),
        )
        for v in patient.visits[: upto + 1]
    ]


def served_parity(run: EnsembleRun, artifact: Path) -> tuple[float, int]:
    """The largest |served - numpy definition| over every held-out visit, and how many visits."""
    manifest = read_manifest(artifact)
    session = open_session(artifact, manifest, manifest.onnx_sha256, OrtOptions())
    recommender = Recommender(manifest, session, evidence_per_medication=0)
    ensemble, patients = numpy_ensemble(run)
    expected = ensemble.predict(patients)
    worst, visits = 0.0, 0
    for patient, rows in zip(patients, expected, strict=True):
        for t, row in enumerate(rows):
            answer = recommender.recommend(raw_visits(patient, t), threshold=0.0)
            served = {m.atc3: m.probability for m in answer.medications}
            got = np.array([served[m] for m in ensemble.med_vocab])
            worst = max(worst, float(np.abs(got - row).max()))
            visits += 1
    return worst, visits


@pytest.mark.slow
def test_served_scores_match_the_numpy_definition_on_every_held_out_visit(exported) -> None:
    worst, visits = served_parity(*exported)
    assert visits >= 30
    assert worst <= PARITY


@pytest.fixture(scope="module")
def exported_with_gbert(
    exported: tuple[EnsembleRun, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[EnsembleRun, Path]:
    """GAMENet, G-BERT (``diag+proc``) and LR on the same tiny dataset, exported."""
    run = exported[0]
    root = tmp_path_factory.mktemp("ensemble-gbert")
    train_gbert(run.data, root / "pre", tiny_config())
    train_gbert(run.data, root / "ft", tiny_config(stage="finetune"), init_dir=root / "pre")
    train(run.data, [run.gamenet, root / "ft"], root / "ensemble", QUICK)
    export_run(root / "ensemble", root / "artifact", version=1)
    return EnsembleRun(run.data, run.gamenet, root / "ensemble"), root / "artifact"


@pytest.mark.slow
def test_a_gbert_member_is_served_from_its_own_medication_tokens(exported_with_gbert) -> None:
    run, artifact = exported_with_gbert
    roles = [t.role for t in read_manifest(artifact).inputs]
    assert roles[-2:] == ["med_ids", "med_mask"] and "med_history" in roles
    worst, visits = served_parity(run, artifact)
    assert visits >= 30
    assert worst <= PARITY


@pytest.mark.slow
def test_the_manifest_is_a_recommenders_with_the_ensembles_figures(exported) -> None:
    run, artifact = exported
    manifest = read_manifest(artifact)
    spec = json.loads((run.ensemble / "ensemble.json").read_text())
    metrics = json.loads((run.ensemble / "metrics.json").read_text())
    assert (manifest.name, manifest.version) == ("ensemble", 3)
    assert manifest.threshold == spec["threshold"]
    assert [t.role for t in manifest.inputs] == [
        "diag_ids", "diag_mask", "proc_ids", "proc_mask", "med_history", "visit_mask",
    ]  # fmt: skip
    assert manifest.metrics["test"]["jaccard"].mean == metrics["test"]["jaccard"]["mean"]
    assert set(manifest.baselines) == set(metrics["rows"])
    assert [m["name"] for m in manifest.training["members"]] == ["gamenet", "lr"]
    assert manifest.training["parity_max_abs_error"] <= PARITY
    graph_inputs = [i.name for i in onnx.load(str(artifact / "model.onnx")).graph.input]
    assert len(graph_inputs) == 6  # one graph: the members' inputs are the ensemble's


@pytest.mark.slow
def test_a_member_changed_since_the_fit_is_refused(exported, tmp_path: Path) -> None:
    run, _ = exported
    member = shutil.copytree(run.gamenet, tmp_path / "gamenet")
    with (member / "best.ckpt").open("ab") as fh:
        fh.write(b"\0")
    ensemble = shutil.copytree(run.ensemble, tmp_path / "ensemble")
    run_json = json.loads((ensemble / "run.json").read_text())
    run_json["members"][0]["run_dir"] = str(member)
    (ensemble / "run.json").write_text(json.dumps(run_json))
    with pytest.raises(ValueError, match="changed since the ensemble was fitted"):
        export_run(ensemble, tmp_path / "artifact")
    assert not (tmp_path / "artifact").exists()


class _HistoryMember(torch.nn.Module):
    """A member reading past medications as the multi-hot ``med_history``."""

    def forward(self, med_history: torch.Tensor, visit_mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(med_history.sum(1) - 1.0)  # [B, M]


class _TokenMember(torch.nn.Module):
    """The same member reading them as ``med_ids`` + ``med_mask`` tokens (G-BERT's roles)."""

    def __init__(self, num_meds: int) -> None:
        super().__init__()
        self.num_meds = num_meds

    def forward(
        self, med_ids: torch.Tensor, med_mask: torch.Tensor, visit_mask: torch.Tensor
    ) -> torch.Tensor:
        hot = torch.zeros(*med_ids.shape[:2], self.num_meds).scatter_add(
            -1, med_ids, (med_mask > 0).float()
        )  # [B, V, M]
        return torch.sigmoid(hot.sum(1) - 1.0)


def test_a_token_member_reads_the_same_medications_as_a_history_member() -> None:
    b, v, c, m = 3, 4, 2, 6
    gen = torch.Generator().manual_seed(0)
    history = (torch.rand(b, v, m, generator=gen) > 0.5).float()
    codes = torch.zeros(b, v, c, dtype=torch.long)
    mask = torch.ones(b, v, c)
    spec = EnsembleSpec(
        members=("history", "tokens"),
        calibration=(Platt(), Platt()),
        code_median=1.0,
        weights=np.tile([[0.0, 1.0]], (NUM_BUCKETS, 1)),
        threshold=0.5,
    )
    roles = [("med_history", "visit_mask"), ("med_ids", "med_mask", "visit_mask")]
    tokens = EnsembleInference([_HistoryMember(), _TokenMember(m)], roles, spec)
    spec_history = EnsembleSpec(
        members=spec.members,
        calibration=spec.calibration,
        code_median=1.0,
        weights=np.tile([[1.0, 0.0]], (NUM_BUCKETS, 1)),
        threshold=0.5,
    )
    history_only = EnsembleInference([_HistoryMember(), _TokenMember(m)], roles, spec_history)
    assert tokens.input_roles == (*ROLES, "med_ids", "med_mask")
    visit_mask = torch.ones(b, v)
    feeds = (codes, mask, codes, mask, history, visit_mask, *med_tokens(history).values())
    assert torch.allclose(tokens(*feeds), history_only(*feeds), atol=1e-6)
    with pytest.raises(ValueError, match="needs the med_ids"):
        tokens(*feeds[:6])


def test_a_gbert_member_with_procedures_gets_the_proc_roles() -> None:
    torch.manual_seed(0)
    config = GBertConfig(
        7, 5, hidden=16, head_dim=4, intermediate=16, use_procedures=True, num_proc_codes=4
    )
    member = serving_module(
        GBertRecommender(config, chain_graph(7), chain_graph(5), chain_graph(4))
    )
    spec = EnsembleSpec(
        members=("gbert",),
        calibration=(Platt(),),
        code_median=1.0,
        weights=np.ones((NUM_BUCKETS, 1)),
        threshold=0.5,
    )
    ensemble = EnsembleInference([member], [PROC_ROLES], spec).eval()
    feeds = random_feeds(7, 4, 5, patients=4, max_visits=3, max_codes=3)
    feeds.update(med_tokens(feeds["med_history"]))
    with torch.no_grad():
        mixed = ensemble(*(feeds[r] for r in ensemble.input_roles))
        direct = member(
            feeds["diag_ids"],
            feeds["diag_mask"],
            feeds["proc_ids"],
            feeds["proc_mask"],
            **med_tokens(feeds["med_history"]),
            visit_mask=feeds["visit_mask"],
        )
        unread = {**feeds, "proc_mask": torch.zeros_like(feeds["proc_mask"])}
        no_proc = ensemble(*(unread[r] for r in ensemble.input_roles))
    torch.testing.assert_close(mixed, direct, atol=1e-5, rtol=1e-4)  # one member, identity Platt
    assert (mixed - no_proc).abs().max() > 1e-6  # the member reads the procedures
