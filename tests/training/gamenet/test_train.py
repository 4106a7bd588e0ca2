from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.gamenet.conftest import MEDS, random_patients
from training.batching import encode_patients
from training.data.dataset import write_dataset
from training.data.splits import SplitConfig
from training.data.vocab import Vocabularies
from training.gamenet.config import TrainConfig
from training.gamenet.data import prepare_data
from training.gamenet.loop import epoch_batches, evaluate, load_model
from training.gamenet.run import train_gamenet

QUICK = {"epochs": 2, "bootstrap_rounds": 2, "batch_size": 8}


def make_dataset(root: Path, n: int = 45, *, with_ddi: bool = True) -> Path:
    data = root / "data"
    write_dataset(random_patients(n), data, source_format="synthetic")
    if with_ddi:
        (data / "ddi.csv").write_text(f"atc3_a,atc3_b\n{MEDS[0]},{MEDS[1]}\n{MEDS[2]},{MEDS[4]}\n")
    return data


def test_batched_training_writes_the_run_directory(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    out = tmp_path / "run"
    metrics = train_gamenet(data, out, TrainConfig(**QUICK), show_progress=False)
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
    report = (out / "report.md").read_text()
    assert "Nearest" in report and "Logistic regression" in report and "**GAMENet**" in report
    assert json.loads((out / "metrics.json").read_text())["best_epoch"] == metrics["best_epoch"]


def test_runs_are_reproducible_from_the_seed(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    config = TrainConfig(**{**QUICK, "epochs": 1})
    reported: list[tuple[int, int, float]] = []
    a = train_gamenet(
        data,
        tmp_path / "a",
        config,
        show_progress=False,
        on_epoch=lambda epoch, epochs, val: reported.append((epoch, epochs, val["jaccard"])),
    )
    b = train_gamenet(data, tmp_path / "b", config, show_progress=False)
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
    metrics = train_gamenet(data, tmp_path / "ref", config, show_progress=False)
    assert metrics["train_config"]["lr"] == 2e-4


def test_batched_batches_cover_every_patient_once() -> None:
    patients, _ = encode_patients(random_patients(37), Vocabularies.fit(random_patients(37)))
    batches = epoch_batches(patients, TrainConfig(batch_size=5), np.random.default_rng(1))
    assert sorted(id(p) for b in batches for p in b) == sorted(id(p) for p in patients)
    assert max(len(b) for b in batches) == 5


def test_best_checkpoint_reloads_to_the_same_predictions(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    out = tmp_path / "run"
    train_gamenet(data, out, TrainConfig(**{**QUICK, "epochs": 1}), show_progress=False)
    prepared = prepare_data(data, SplitConfig(method="literature"))
    a, _ = load_model(out / "best.ckpt")
    b, _ = load_model(out / "last.ckpt")
    for x, y in zip(evaluate(a, prepared.test), evaluate(b, prepared.test), strict=True):
        np.testing.assert_allclose(x, y)


def test_a_missing_ddi_table_is_a_clear_error(tmp_path: Path) -> None:
    data = make_dataset(tmp_path, with_ddi=False)
    with pytest.raises(FileNotFoundError, match="pass --ddi"):
        train_gamenet(data, tmp_path / "run", TrainConfig(**QUICK), show_progress=False)


def test_an_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    with pytest.raises(FileExistsError):
        train_gamenet(tmp_path, tmp_path / "run", TrainConfig(), show_progress=False)


def test_refuses_a_dataset_whose_medications_are_not_atc3(tmp_path: Path) -> None:
    write_dataset(
        random_patients(20),
        tmp_path / "rx",
        source_format="synthea",
        extra={"medication_system": "rxnorm"},
    )
    with pytest.raises(ValueError, match="not ATC3 classes"):
        prepare_data(tmp_path / "rx", SplitConfig(method="literature"))


class _CountingAdam(torch.optim.Adam):
    steps = 0

    def step(self, closure=None):  # type: ignore[no-untyped-def, override]
        type(self).steps += 1
        return super().step(closure)


def _one_epoch(tmp_path: Path, **overrides: object) -> tuple[int, float]:
    from training.gamenet.loop import train_one_epoch
    from training.gamenet.run import build_model

    prepared = prepare_data(make_dataset(tmp_path, n=30), SplitConfig(method="literature"))
    # threshold 0.01 predicts every med, so each visit has interacting pairs; target 0, T 0.1:
    # it draws the DDI loss with probability exp(-rate / 0.1), strictly between 0 and 1
    config = TrainConfig(batch_size=4, target_ddi=0.0, temperature=0.1, threshold=0.01, **overrides)  # type: ignore[arg-type]
    model = build_model(prepared, 0, config)
    optimizer = _CountingAdam(model.parameters(), lr=1e-3)
    _CountingAdam.steps = 0
    stats = train_one_epoch(
        model,
        optimizer,
        prepared.train,
        config=config,
        temperature=config.temperature,
        ddi_adj=torch.from_numpy(prepared.ddi_adj),
        rng=np.random.default_rng(0),
        generator=torch.Generator().manual_seed(0),
        show_progress=False,
    )
    assert _CountingAdam.steps >= stats.steps
    return _CountingAdam.steps - stats.steps, stats.ddi_loss_share


def test_separate_ddi_loss_takes_its_own_adam_step(tmp_path: Path) -> None:
    extra, share = _one_epoch(tmp_path / "sep", ddi_loss="separate")
    assert 0 < share < 1 and extra > 0  # batches with both kinds of visit stepped twice
    extra, share = _one_epoch(tmp_path / "mixed", ddi_loss="mixed")
    assert share > 0 and extra == 0
    extra, share = _one_epoch(tmp_path / "off", ddi_loss="off")
    assert share == 0 and extra == 0
    with pytest.raises(ValueError, match="ddi_loss"):
        TrainConfig(ddi_loss="sometimes")  # type: ignore[arg-type]


def test_cosine_schedule_decays_from_lr_towards_zero() -> None:
    config = TrainConfig(epochs=4, lr=1e-2, lr_schedule="cosine")
    lrs = [config.epoch_lr(e) for e in range(1, 5)]
    assert lrs[0] == pytest.approx(1e-2) and lrs == sorted(lrs, reverse=True) and lrs[-1] > 0
    assert TrainConfig(lr=1e-2).epoch_lr(3) == 1e-2
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")  # type: ignore[arg-type]
