"""The training loop every G-BERT stage shares: epochs, evaluation, checkpoints, curves."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from tqdm import tqdm

from training.gbert.runs import save_checkpoint

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """What :func:`fit` returns: per-epoch rows and the best monitored value."""

    history: list[dict[str, float]] = field(default_factory=list)
    best: float = math.nan
    best_epoch: int = -1


def fit(
    model: nn.Module,
    *,
    step: Callable[[Any], Tensor],
    batches: Callable[[int], Iterable[Any]],
    evaluate: Callable[[], dict[str, float]],
    monitor: str,
    mode: Literal["min", "max"],
    epochs: int,
    lr: float,
    run_dir: Path,
    extra: dict[str, Any],
    after_step: Callable[[], None] | None = None,
    lr_by_param: dict[nn.Parameter, float] | None = None,
) -> FitResult:
    """Train ``model`` for ``epochs``; write ``last.ckpt`` each epoch and ``best.ckpt`` on a gain.

    Args:
        model: the module; only parameters with ``requires_grad`` are optimised.
        step: returns the loss of one batch (the model is in train mode).
        batches: returns the batches of an epoch (epoch index in, for seeding).
        evaluate: returns validation figures (called in eval mode under ``no_grad``).
        monitor: the key of ``evaluate``'s result that picks the best epoch.
        mode: whether lower or higher ``monitor`` is better.
        epochs: number of epochs (0 still evaluates and checkpoints once).
        lr: Adam learning rate.
        run_dir: where checkpoints go.
        extra: plain-JSON fields stored in every checkpoint (configs).
        after_step: called after each optimiser step (e.g. to raise Lagrange multipliers).
        lr_by_param: learning rates that differ from ``lr`` (DHA's fusion weights ω).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    special = lr_by_param or {}
    groups = [{"params": [p for p in params if p not in special], "lr": lr}]
    groups += [{"params": [p], "lr": rate} for p, rate in special.items() if p.requires_grad]
    optimizer = torch.optim.Adam(groups, lr=lr) if params else None
    result = FitResult(best=math.inf if mode == "min" else -math.inf)
    for epoch in range(max(epochs, 1)):
        train_loss = math.nan
        if epochs > 0 and optimizer is not None:
            train_loss = _train_one_epoch(
                model,
                optimizer,
                params,
                step,
                batches(epoch),
                f"epoch {epoch + 1}/{epochs}",
                after_step,
            )
        model.eval()
        with torch.no_grad():
            figures = evaluate()
        model.train()
        row = {"epoch": float(epoch + 1), "train_loss": train_loss, **figures}
        result.history.append(row)
        logger.info("epoch %d: %s", epoch + 1, json.dumps(row))
        value = figures[monitor]
        state = {**extra, "epoch": epoch + 1, "monitor": monitor, "value": value}
        save_checkpoint(run_dir / "last.ckpt", model, state)
        if (value < result.best) if mode == "min" else (value > result.best):
            result.best, result.best_epoch = value, epoch + 1
            save_checkpoint(run_dir / "best.ckpt", model, state)
    return result


def _train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    params: list[nn.Parameter],
    step: Callable[[Any], Tensor],
    batches: Iterable[Any],
    desc: str,
    after_step: Callable[[], None] | None,
) -> float:
    model.train()
    total, count = 0.0, 0
    bar = tqdm(list(batches), desc=desc, leave=False, disable=None)
    for batch in bar:
        loss = step(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if after_step is not None:
            after_step()
        total, count = total + float(loss.detach()), count + 1
        bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
    return total / max(count, 1)


def write_curves(history: list[dict[str, float]], path: Path) -> None:
    """Plot every per-epoch figure of ``history`` against the epoch into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history[0] if k != "epoch"] if history else []
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(3.2 * max(len(keys), 1), 2.8))
    axes_list = list(axes.flat) if hasattr(axes, "flat") else [axes]
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes_list, keys, strict=False):
        ax.plot(epochs, [r[key] for r in history], marker="o")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
