"""The optimiser step every G-BERT stage shares, on the generic loop of ``training.fit``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from training.distributed import Dist
from training.fit import Bar, Callback, CheckpointWriter, EpochEnd, FitResult, Monitor, fit

GRAD_CLIP = 1.0  # every stage clips its gradient norm to 1 (MedRec's; the official code does not)
M = TypeVar("M", bound=nn.Module)


def fit_stage(
    model: M,
    *,
    step: Callable[[M, Any], Tensor],
    batches: Callable[[int], Sequence[Any]],
    evaluate: Callable[[], dict[str, float]],
    monitor: Monitor,
    epochs: int,
    lr: float,
    run_dir: Path,
    extra: dict[str, Any],
    after_step: Callable[[], None] | None = None,
    lr_by_param: dict[nn.Parameter, float] | None = None,
    callbacks: Iterable[Callback] = (),
    show_progress: bool = True,
    dist: Dist | None = None,
) -> FitResult:
    """Train ``model``; write ``last.ckpt`` each epoch and ``best.ckpt`` on a gain.

    Args:
        model: the module; only parameters with ``requires_grad`` are optimised.
        step: ``step(model, batch)`` returns the loss of one batch (the model is in train mode).
        batches: returns the batches of an epoch (1-based epoch in, for seeding).
        evaluate: returns validation figures (called in eval mode under ``no_grad``).
        monitor: the figure of ``evaluate`` that picks the best epoch, and its direction.
        epochs: number of epochs (0 still evaluates and checkpoints once).
        lr: Adam learning rate.
        run_dir: where checkpoints go.
        extra: plain-JSON fields stored in every checkpoint (configs).
        after_step: called after each optimiser step (e.g. to raise Lagrange multipliers).
        lr_by_param: learning rates that differ from ``lr`` (DHA's fusion weights ω).
        callbacks: called after each epoch, before the checkpoints are written.
        show_progress: a tqdm bar per epoch on a terminal.
        dist: the ranks (default one process). Each rank steps through its share of the epoch's
            batches (``DistributedSampler``, the same count on every rank) with the gradients
            averaged over the ranks (:meth:`~training.distributed.Dist.average_gradients`); the
            training loss is averaged over the ranks; every rank validates on the whole split
            (the same figures everywhere); rank 0 alone runs ``callbacks`` and writes the
            checkpoints, which every rank may read once this returns.
    """
    dist = dist or Dist(device=str(next(model.parameters()).device))
    params = [p for p in model.parameters() if p.requires_grad]
    special = lr_by_param or {}
    groups = [{"params": [p for p in params if p not in special], "lr": lr}]
    groups += [{"params": [p], "lr": rate} for p, rate in special.items() if p.requires_grad]
    optimizer = torch.optim.Adam(groups, lr=lr) if params else None
    epoch = 0

    def train_epoch(bar: Bar[Any]) -> dict[str, float]:
        nonlocal epoch
        epoch += 1
        if optimizer is None:
            return {"train_loss": float("nan")}
        total, count = 0.0, 0
        # seed 0: the batches themselves are already drawn from the run's seed and the epoch
        progress = bar(dist.shard(batches(epoch), epoch=epoch, seed=0))
        for batch in progress:
            loss = step(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            dist.average_gradients(params)
            torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
            optimizer.step()
            if after_step is not None:
                after_step()
            total, count = total + float(loss.detach()), count + 1
            progress.set_postfix(loss=f"{float(loss.detach()):.4f}")
        loss_sum, steps = dist.sum([total, count])
        return {"train_loss": loss_sum / max(steps, 1)}

    def payload(end: EpochEnd) -> dict[str, Any]:
        state = {"epoch": end.epoch, "monitor": f"val_{monitor.key}", "value": end.val[monitor.key]}
        return {"model": model.state_dict(), **extra, **state}

    result = fit(
        train_epoch,
        evaluate,
        epochs=epochs,
        monitor=monitor,
        modules=[model],
        callbacks=[*callbacks, CheckpointWriter(run_dir, payload)] if dist.is_main else [],
        show_progress=show_progress and dist.is_main,
    )
    dist.barrier()
    return result
