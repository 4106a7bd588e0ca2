from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.training.ensemble.conftest import QUICK, EnsembleRun, make_ensemble_run
from tests.training.gamenet.conftest import make_dataset
from tests.training.gbert.conftest import tiny_config
from training.baselines import med_targets
from training.data.splits import SplitConfig
from training.ensemble.config import TrainConfig
from training.ensemble.logistic import LogisticMember
from training.ensemble.predict import load_predictor
from training.ensemble.predictor import EnsemblePredictor, EnsembleSpec
from training.ensemble.run import train
from training.evaluate.runs import load_run_predictor
from training.gamenet.data import prepare_data
from training.gbert.run import train as train_gbert
from training.metrics import recommendation_metrics

ROWS = ("gamenet", "lr", "uniform mean", "global weights", "per-pattern weights")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> EnsembleRun:
    return make_ensemble_run(tmp_path_factory.mktemp("ensemble"))


@pytest.mark.slow
def test_the_run_directory_holds_the_ablations_on_both_splits(run: EnsembleRun) -> None:
    names = {p.name for p in run.ensemble.iterdir()}
    assert {"run.json", "vocab.json", "ensemble.json", "lr.npz", "metrics.json"} <= names
    metrics = json.loads((run.ensemble / "metrics.json").read_text())
    assert tuple(metrics["rows"]) == ROWS
    for row in metrics["rows"].values():
        assert 0.02 <= row["threshold"] <= 0.98
        for split in ("val", "test"):
            assert 0.0 <= row[f"{split}_point"]["jaccard"] <= 1.0
            assert set(row[split]["jaccard"]) == {"mean", "std"}
    assert metrics["test"] == metrics["rows"]["per-pattern weights"]["test"]
    assert len(metrics["buckets"]) == 10
    assert (
        sum(b["val_visits"] for b in metrics["buckets"])
        == metrics["dataset"]["split"]["visits"]["val"]
    )
    run_json = json.loads((run.ensemble / "run.json").read_text())
    assert run_json["model"] == "ensemble"
    assert [m["kind"] for m in run_json["members"]] == ["run", "lr"]
    assert len(run_json["members"][0]["checkpoint_sha256"]) == 64
    assert "## Test" in (run.ensemble / "report.md").read_text()


@pytest.mark.slow
def test_the_reported_test_rows_are_the_predictor_on_the_test_split(run: EnsembleRun) -> None:
    """The metrics come from the numpy definition of the mix, applied to the member predictors."""
    data = prepare_data(run.data, SplitConfig(method="literature"))
    spec = EnsembleSpec.from_json(json.loads((run.ensemble / "ensemble.json").read_text()))
    lr = LogisticMember.load(run.ensemble / "lr.npz", data.vocabs)
    ensemble = EnsemblePredictor(spec, (load_run_predictor(run.gamenet), lr), data.vocabs)
    assert ensemble.predict(data.split.test[:2])[1] == pytest.approx(
        load_predictor(run.ensemble).predict(data.split.test[:2])[1]
    )  # the run's own loader (medrec evaluate) rebuilds the same ensemble
    got = recommendation_metrics(
        med_targets(data.split.test, data.vocabs.med),
        ensemble.predict(data.split.test),
        threshold=spec.threshold,
        ddi_adj=data.ddi_adj,
    )
    metrics = json.loads((run.ensemble / "metrics.json").read_text())
    assert got == pytest.approx(metrics["rows"]["per-pattern weights"]["test_point"])
    for rows in ensemble.predict(data.split.test[:3]):
        assert np.all((rows >= 0) & (rows <= 1))


def test_one_member_without_lr_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two members"):
        train(tmp_path, [tmp_path / "gamenet"], tmp_path / "out", TrainConfig(lr=False))


@pytest.mark.slow
def test_a_member_of_another_dataset_is_refused(run: EnsembleRun, tmp_path: Path) -> None:
    other = make_dataset(tmp_path, 60)
    with pytest.raises(ValueError, match=r"run\.json: trained on another dataset"):
        train(other, [run.gamenet], tmp_path / "out", QUICK)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_ensemble_is_not_a_member(run: EnsembleRun, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is an ensemble; give its members"):
        train(run.data, [run.gamenet, run.ensemble], tmp_path / "out", QUICK)


@pytest.mark.slow
def test_an_existing_run_is_not_overwritten(run: EnsembleRun, tmp_path: Path) -> None:
    shutil.copytree(run.ensemble, tmp_path / "ens")
    with pytest.raises(FileExistsError):
        train(run.data, [run.gamenet], tmp_path / "ens", QUICK)


@pytest.mark.slow
def test_a_gbert_run_is_a_member_beside_gamenet(run: EnsembleRun, tmp_path: Path) -> None:
    """G-BERT's run.json layout (data, split and vocab inline) is checked like GAMENet's."""
    train_gbert(run.data, tmp_path / "pre", tiny_config())
    gbert = tmp_path / "ft"
    train_gbert(run.data, gbert, tiny_config(stage="finetune"), init_dir=tmp_path / "pre")
    metrics = train(run.data, [gbert, run.gamenet], tmp_path / "ens", QUICK)
    assert metrics["members"] == ["gbert", "gamenet", "lr"]
    members = json.loads((tmp_path / "ens" / "run.json").read_text())["members"]
    assert [m["model"] for m in members if m["kind"] == "run"] == ["gbert", "gamenet"]
