"""The one training loop every model sits on: epochs, validation, best epoch, early stop.

A model package supplies two functions: ``train_epoch(bar)``, which runs one epoch over
``bar(batches)`` (a tqdm bar when progress is shown) and returns its training figures, and
``validate()``, which returns the validation metrics (run in ``eval()`` mode under ``no_grad``).
:func:`fit` calls them for each epoch, keeps the history, tracks the :class:`Monitor` and calls
the callbacks, e.g. :class:`CheckpointWriter` (``last.ckpt`` / ``best.ckpt``) and
:func:`report_epoch` (the job runner's ``on_epoch``). A callback raises :class:`StopTraining`
to end the run after the current epoch.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from app.contract.jobs import EpochCallback

logger = logging.getLogger(__name__)
T = TypeVar("T")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (loops also use explicit generators)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Monitor:
    """The validation metric that picks the best epoch, and when to stop.

    Args:
        key: a key of ``validate()``'s result.
        mode: ``max`` or ``min``: whether a higher or a lower value is better.
        patience: stop after this many epochs without a better value; ``None`` never stops.
    """

    key: str
    mode: Literal["min", "max"] = "max"
    patience: int | None = None

    def improves(self, value: float, best: float) -> bool:
        """Whether ``value`` is strictly better than ``best``."""
        return value < best if self.mode == "min" else value > best

    def initial(self) -> float:
        """The best value before any epoch (every real value improves on it)."""
        return math.inf if self.mode == "min" else -math.inf


@dataclass(frozen=True)
class EpochEnd:
    """What a callback sees after an epoch's validation.

    Attributes:
        epoch: 1-based epoch number.
        epochs: the configured number of epochs.
        row: the history row (``epoch``, training figures, ``val_``-prefixed metrics).
        val: the validation metrics, unprefixed.
        improved: whether this epoch is the best so far.
        best: the best monitored value so far (this epoch's when ``improved``).
    """

    epoch: int
    epochs: int
    row: dict[str, float]
    val: dict[str, float]
    improved: bool
    best: float


Callback = Callable[[EpochEnd], None]
Bar = Callable[[Sequence[T]], "tqdm[T]"]


class StopTraining(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by a callback to end training after the current epoch."""


@dataclass
class FitResult:
    """What :func:`fit` returns: the per-epoch rows and the best monitored value."""

    history: list[dict[str, float]] = field(default_factory=list)
    best: float = math.nan
    best_epoch: int = 0
    seconds: float = 0.0  # wall time of the whole fit, validation included

    def val(self) -> list[dict[str, float]]:
        """The unprefixed validation metrics of each epoch."""
        return [{k[4:]: v for k, v in row.items() if k.startswith("val_")} for row in self.history]


def report_epoch(on_epoch: EpochCallback) -> Callback:
    """Adapt an ``on_epoch(epoch, epochs, val_metrics)`` callback (the job protocol)."""
    return lambda end: on_epoch(end.epoch, end.epochs, end.val)


class CheckpointWriter:
    """Writes ``last.ckpt`` after every epoch and ``best.ckpt`` when the epoch is the best.

    Args:
        run_dir: the run directory.
        payload: ``payload(end)`` returns the checkpoint dict (state dicts and plain-JSON
            configs, loadable with ``torch.load(weights_only=True)``).
    """

    def __init__(self, run_dir: Path, payload: Callable[[EpochEnd], dict[str, Any]]) -> None:
        self.run_dir = Path(run_dir)
        self.payload = payload

    def __call__(self, end: EpochEnd) -> None:
        """Save the epoch's checkpoint(s)."""
        state = self.payload(end)
        torch.save(state, self.run_dir / "last.ckpt")
        if end.improved:
            torch.save(state, self.run_dir / "best.ckpt")


def _epoch_bar(desc: str, show: bool) -> Bar[Any]:
    def bar(items: Sequence[T]) -> tqdm[T]:
        # disable=None: shown on a terminal only; leave=False: one line that each epoch reuses.
        return tqdm(items, desc=desc, leave=False, disable=None if show else True, mininterval=1.0)

    return bar


def fit(
    train_epoch: Callable[[Bar[Any]], dict[str, float]],
    validate: Callable[[], dict[str, float]],
    *,
    epochs: int,
    monitor: Monitor,
    modules: Sequence[nn.Module],
    callbacks: Iterable[Callback] = (),
    show_progress: bool = True,
    restore_best: bool = False,
    name: str = "epoch",
) -> FitResult:
    """Train for ``epochs`` epochs (fewer when the monitor's patience runs out).

    Args:
        train_epoch: runs one epoch (``modules`` are in train mode) over ``bar(batches)`` and
            returns its figures (e.g. ``train_loss``).
        validate: returns the validation metrics; called in eval mode under ``no_grad``.
        epochs: number of epochs; 0 validates (and calls the callbacks) once without training.
        monitor: the metric that picks the best epoch, its direction and patience.
        modules: the networks being trained (mode switching, ``restore_best``).
        callbacks: called in order after each epoch's validation.
        show_progress: one tqdm bar per epoch (``desc="{name} i/N"``) on a terminal.
        restore_best: load the best epoch's state into ``modules`` at the end.
        name: the bar's and the log's label.
    """
    result = FitResult(best=monitor.initial())
    callbacks = list(callbacks)
    best_state: list[dict[str, Any]] | None = None
    waited, start = 0, time.perf_counter()
    for epoch in range(1, max(epochs, 1) + 1):
        for m in modules:
            m.train()
        train = {"train_loss": math.nan}
        if epochs > 0:
            train = train_epoch(_epoch_bar(f"{name} {epoch}/{epochs}", show_progress))
        val = _validate(validate, modules)
        improved = monitor.improves(val[monitor.key], result.best)
        if improved:
            result.best, result.best_epoch, waited = val[monitor.key], epoch, 0
            if restore_best:
                best_state = [copy.deepcopy(m.state_dict()) for m in modules]
        else:
            waited += 1
        row = {"epoch": epoch, **train, **{f"val_{k}": v for k, v in val.items()}}
        result.history.append(row)
        logger.debug("%s %d/%d: %s", name, epoch, epochs, row)
        end = EpochEnd(epoch, epochs, row, val, improved, result.best)
        try:
            for callback in callbacks:
                callback(end)
        except StopTraining:
            break
        if monitor.patience is not None and waited > monitor.patience:
            break
    result.seconds = time.perf_counter() - start
    if best_state is not None:
        for m, state in zip(modules, best_state, strict=True):
            m.load_state_dict(state)
    logger.info("%s: best epoch %d, val %s %.4f", name, result.best_epoch, monitor.key, result.best)
    return result


def _validate(
    validate: Callable[[], dict[str, float]], modules: Sequence[nn.Module]
) -> dict[str, float]:
    for m in modules:
        m.eval()
    with torch.no_grad():
        val = validate()
    for m in modules:
        m.train()
    return val
