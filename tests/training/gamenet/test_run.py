from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.gamenet.conftest import make_dataset
from training.data.splits import SplitConfig
from training.gamenet.config import TrainConfig
from training.gamenet.data import prepare_data
from training.gamenet.run import train
from training.gamenet.steps import epoch_batches, evaluate, load_model
from training.metrics import THRESHOLD_GRID

QUICK = {"epochs": 2, "bootstrap_rounds": 2, "batch_size": 8}
# Two ranks see other batches and other annealing draws than one process does. On the 400-patient
# set below (15 epochs), one process's best validation Jaccard spans 0.878-0.933 over seeds 0-2;
# two ranks reach 0.860 (seed 0), and must stay within about twice that seed-to-seed spread.
DDP_TOLERANCE = 0.1


def test_batched_training_writes_the_run_directory(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    out = tmp_path / "run"
    metrics = train(data, out, TrainConfig(**QUICK), show_progress=False)
    for name in ("run.json", "vocab.json", "best.ckpt", "last.ckpt", "metrics.json", "curves.png"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == "gamenet" and run["seed"] == 0
    assert run["dataset"]["split"]["method"] == "literature"
    ckpt = torch.load(out / "best.ckpt", weights_only=True)
    assert set(ckpt) >= {"model", "optimizer", "model_config", "train_config", "epoch"}
    assert len(metrics["history"]) == 2
    assert set(metrics["test"]["jaccard"]) == {"mean", "std"}
    assert set(metrics["baselines"]) == {"frequency", "nearest", "logistic_regression"}
    assert metrics["tuned_threshold"] in THRESHOLD_GRID
    assert set(metrics["test_tuned"]) == set(metrics["test"])
    report = (out / "report.md").read_text()
    assert f"threshold {metrics['tuned_threshold']:.2f} (tuned on validation)" in report
    assert "Nearest" in report and "Logistic regression" in report and "**GAMENet**" in report
    assert json.loads((out / "metrics.json").read_text())["best_epoch"] == metrics["best_epoch"]


def test_runs_are_reproducible_from_the_seed(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    config = TrainConfig(**{**QUICK, "epochs": 1})
    reported: list[tuple[int, int, float]] = []
    a = train(
        data,
        tmp_path / "a",
        config,
        show_progress=False,
        on_epoch=lambda epoch, epochs, val: reported.append((epoch, epochs, val["jaccard"])),
    )
    b = train(data, tmp_path / "b", config, show_progress=False)
    assert reported == [(1, 1, a["history"][0]["val_jaccard"])]
    assert a["history"][0]["val_jaccard"] == b["history"][0]["val_jaccard"]
    assert a["history"][0]["train_loss"] == b["history"][0]["train_loss"]


def test_reference_mode_makes_one_step_per_visit(tmp_path: Path) -> None:
    data = make_dataset(tmp_path, n=20)
    prepared = prepare_data(data, SplitConfig(method="literature"))
    config = TrainConfig(mode="reference", epochs=1)
    batches = epoch_batches(prepared.train, config, np.random.default_rng(0))
    assert len(batches) == sum(p.num_visits for p in prepared.train)
    first = prepared.train[0]
    assert [b[0].num_visits for b in batches[: first.num_visits]] == list(
        range(1, first.num_visits + 1)
    )
    metrics = train(data, tmp_path / "ref", config, show_progress=False)
    assert metrics["train_config"]["lr"] == 2e-4


def test_best_checkpoint_reloads_to_the_same_predictions(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    out = tmp_path / "run"
    train(data, out, TrainConfig(**{**QUICK, "epochs": 1}), show_progress=False)
    prepared = prepare_data(data, SplitConfig(method="literature"))
    a, _ = load_model(out / "best.ckpt")
    b, _ = load_model(out / "last.ckpt")
    for x, y in zip(evaluate(a, prepared.test), evaluate(b, prepared.test), strict=True):
        np.testing.assert_allclose(x, y)


def test_a_missing_ddi_table_is_a_clear_error(tmp_path: Path) -> None:
    data = make_dataset(tmp_path, with_ddi=False)
    with pytest.raises(FileNotFoundError, match="pass --ddi"):
        train(data, tmp_path / "run", TrainConfig(**QUICK), show_progress=False)


def test_an_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    with pytest.raises(FileExistsError):
        train(tmp_path, tmp_path / "run", TrainConfig(), show_progress=False)


@pytest.mark.slow
def test_torchrun_two_ranks_reach_the_single_process_jaccard(tmp_path: Path) -> None:
    """2 gloo ranks of batch 8 against one process of batch 16: the same steps per epoch."""
    data = make_dataset(tmp_path, n=400)
    options = {"epochs": 15, "bootstrap_rounds": 2, "split": "random"}
    single = train(data, tmp_path / "single", TrainConfig(**options, batch_size=16))
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["-m", "app.cli", "train", "gamenet", "--data", str(data)]
    command += ["--out", str(tmp_path / "ddp"), "--distributed", "--batch-size", "8"]
    command += [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    subprocess.run(command, cwd=root, env=env, check=True, capture_output=True, timeout=600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "ddp", "single"]
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["world_size"] == 2
    assert abs(ddp["best_val_jaccard"] - single["best_val_jaccard"]) <= DDP_TOLERANCE
    assert ddp["best_val_jaccard"] > ddp["history"][0]["val_jaccard"]  # it learned
