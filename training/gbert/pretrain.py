"""G-BERT pre-training on every visit, single-visit patients included.

Loss per batch of visits: cross-entropy of the masked codes (15%, dx and rx) plus the four BCE
set-prediction losses from the [CLS] outputs (dx→dx, rx→dx, dx→rx, rx→rx), as G-BERT.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from models.gbert.model import GBertPretrain
from training.gbert.batches import EncodedVisit, pretrain_batch
from training.gbert.loop import FitResult, fit


def pretrain_loss(model: GBertPretrain, batch: dict[str, Tensor]) -> Tensor:
    """Return the G-BERT pre-training loss of one batch."""
    dx_mlm, rx_mlm, dx2dx, rx2dx, dx2rx, rx2rx = model(batch["dx_tokens"], batch["rx_tokens"])
    loss = (
        F.binary_cross_entropy_with_logits(dx2dx, batch["dx_set"])
        + F.binary_cross_entropy_with_logits(rx2dx, batch["dx_set"])
        + F.binary_cross_entropy_with_logits(dx2rx, batch["rx_set"])
        + F.binary_cross_entropy_with_logits(rx2rx, batch["rx_set"])
    )
    for logits, target in ((dx_mlm, batch["dx_masked"]), (rx_mlm, batch["rx_masked"])):
        if bool((target >= 0).any()):
            loss = loss + F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100)
    return loss


def visit_batches(
    visits: Sequence[EncodedVisit],
    *,
    batch_size: int,
    num_diag: int,
    num_meds: int,
    mask_prob: float,
    seed: int,
    shuffle: bool,
) -> list[dict[str, Tensor]]:
    """Return masked batches of ``visits``; the seed fixes both the order and the masks."""
    order = list(range(len(visits)))
    if shuffle:
        random.Random(seed).shuffle(order)
    generator = torch.Generator().manual_seed(seed)
    return [
        pretrain_batch(
            [visits[i] for i in order[s : s + batch_size]], num_diag, num_meds, mask_prob, generator
        )
        for s in range(0, len(order), batch_size)
    ]


def mean_loss(
    model: GBertPretrain,
    batches: Sequence[dict[str, Tensor]],
    loss_fn: Callable[[GBertPretrain, dict[str, Tensor]], Tensor] = pretrain_loss,
) -> float:
    """Return the mean loss over ``batches`` (call under ``no_grad`` in eval mode)."""
    losses = [float(loss_fn(model, b).detach()) for b in batches]
    return sum(losses) / max(len(losses), 1)


def run_pretraining(
    model: GBertPretrain,
    train: Sequence[EncodedVisit],
    val: Sequence[EncodedVisit],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    mask_prob: float,
    seed: int,
    run_dir: Path,
    extra: dict[str, Any],
    step_loss: Callable[[GBertPretrain, dict[str, Tensor]], Tensor] | None = None,
    after_step: Callable[[], None] | None = None,
) -> FitResult:
    """Pre-train ``model``; the validation loss (fixed masks) picks ``best.ckpt``.

    ``step_loss`` replaces the training loss (DHA fusion adds its penalty there).
    """
    sizes = {
        "num_diag": model.encoder.config.num_diag_codes,
        "num_meds": model.encoder.config.num_meds,
    }
    val_batches = visit_batches(
        val, batch_size=batch_size, mask_prob=mask_prob, seed=seed, shuffle=False, **sizes
    )
    loss_fn = step_loss or pretrain_loss
    return fit(
        model,
        step=lambda batch: loss_fn(model, batch),
        batches=lambda epoch: visit_batches(
            train,
            batch_size=batch_size,
            mask_prob=mask_prob,
            seed=seed * 1000 + epoch + 1,
            shuffle=True,
            **sizes,
        ),
        evaluate=lambda: {"val_loss": mean_loss(model, val_batches)},
        monitor="val_loss",
        mode="min",
        epochs=epochs,
        lr=lr,
        run_dir=run_dir,
        extra=extra,
        after_step=after_step,
    )
