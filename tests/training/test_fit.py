from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from training.fit import (
    CheckpointWriter,
    EpochEnd,
    Monitor,
    StopTraining,
    fit,
    report_epoch,
)


def _run(values: list[float], monitor: Monitor, **kw: Any):
    """Fit a linear layer whose 'validation metric' follows ``values``, epoch by epoch."""
    model = nn.Linear(2, 1)
    seen = iter(values)

    def train_epoch(bar: Any) -> dict[str, float]:
        for _ in bar([None]):
            with torch.no_grad():
                model.weight.add_(1.0)  # every epoch changes the state
        return {"train_loss": float(model.weight.detach().sum())}

    def validate() -> dict[str, float]:
        assert not model.training and not torch.is_grad_enabled()
        return {"score": next(seen), "weight": float(model.weight.detach()[0, 0])}

    result = fit(
        train_epoch,
        validate,
        epochs=len(values),
        monitor=monitor,
        modules=[model],
        show_progress=False,
        **kw,
    )
    return model, result


def test_history_rows_and_the_best_epoch() -> None:
    _, result = _run([0.1, 0.5, 0.3], Monitor("score", "max"))
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert list(result.history[0]) == ["epoch", "train_loss", "val_score", "val_weight"]
    assert result.best == 0.5 and result.best_epoch == 2
    assert result.val()[2]["score"] == 0.3


def test_min_mode_and_patience_stop_early() -> None:
    _, result = _run([3.0, 2.0, 2.5, 2.1, 1.0], Monitor("score", "min", patience=1))
    assert len(result.history) == 4  # two epochs without a lower value after epoch 2
    assert result.best == 2.0 and result.best_epoch == 2


def test_restore_best_loads_the_best_state() -> None:
    model, result = _run([0.1, 0.9, 0.2], Monitor("score"), restore_best=True)
    assert float(model.weight.detach()[0, 0]) == result.history[1]["val_weight"]


def test_callbacks_see_each_epoch_and_can_stop_it() -> None:
    reported: list[tuple[int, int, float]] = []

    def stop_at_two(end: EpochEnd) -> None:
        if end.epoch == 2:
            raise StopTraining

    callbacks = [report_epoch(lambda e, n, val: reported.append((e, n, val["score"]))), stop_at_two]
    _, result = _run([0.1, 0.2, 0.3], Monitor("score"), callbacks=callbacks)
    assert reported == [(1, 3, 0.1), (2, 3, 0.2)] and len(result.history) == 2


def test_zero_epochs_validates_once_without_training() -> None:
    model = nn.Linear(2, 1)
    result = fit(
        lambda bar: pytest.fail("trained"),
        lambda: {"loss": 1.0},
        epochs=0,
        monitor=Monitor("loss", "min"),
        modules=[model],
        show_progress=False,
    )
    assert len(result.history) == 1 and math.isnan(result.history[0]["train_loss"])


def test_checkpoint_writer_writes_last_always_and_best_on_a_gain(tmp_path: Path) -> None:
    writer = CheckpointWriter(tmp_path, lambda end: {"epoch": end.epoch, "best": end.best})
    writer(EpochEnd(1, 2, {}, {}, improved=True, best=0.5))
    writer(EpochEnd(2, 2, {}, {}, improved=False, best=0.5))
    assert torch.load(tmp_path / "last.ckpt", weights_only=True) == {"epoch": 2, "best": 0.5}
    assert torch.load(tmp_path / "best.ckpt", weights_only=True) == {"epoch": 1, "best": 0.5}
