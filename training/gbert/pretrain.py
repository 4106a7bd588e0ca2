"""G-BERT pre-training on every visit of the training patients, single-visit ones included.

Loss per batch of visits: the four BCE set-prediction losses from the [CLS] outputs (dx→dx,
rx→dx, dx→rx, rx→rx) on 15%-masked inputs, as G-BERT, plus the cross-entropy of the masked codes
(dx and rx), which the official code does not have (``bench/gbert_reference.py``). A model
with procedures reads them on the diagnosis side but never masks or predicts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from models.gbert.model import GBertPretrain
from training.distributed import Dist
from training.fit import Callback, FitResult, Monitor
from training.gbert.batches import EncodedVisit, bucketed_batches, diag_side, pretrain_batch
from training.gbert.steps import fit_stage


def pretrain_loss(model: GBertPretrain, batch: dict[str, Tensor]) -> Tensor:
    """Return the G-BERT pre-training loss of one batch."""
    hd, hr, dx2dx, rx2dx, dx2rx, rx2rx = model(batch["dx_tokens"], batch["rx_tokens"])
    loss = (
        F.binary_cross_entropy_with_logits(dx2dx, batch["dx_set"])
        + F.binary_cross_entropy_with_logits(rx2dx, batch["dx_set"])
        + F.binary_cross_entropy_with_logits(dx2rx, batch["rx_set"])
        + F.binary_cross_entropy_with_logits(rx2rx, batch["rx_set"])
    )
    for head, h, target in (
        (model.dx_mlm, hd, batch["dx_masked"]),
        (model.rx_mlm, hr, batch["rx_masked"]),
    ):
        chosen = target >= 0  # [B, C]
        if bool(chosen.any()):
            loss = loss + F.cross_entropy(head(h[chosen]), target[chosen])
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
    """Return masked batches of ``visits``; the seed fixes the order and the masks.

    Training batches (``shuffle``) are length-bucketed; evaluation batches keep file order.
    """
    if shuffle:
        lengths = [max(len(diag_side(v, num_diag)), len(v.rx)) for v in visits]
        groups = bucketed_batches(lengths, batch_size, seed)
    else:
        groups = [
            list(range(s, min(s + batch_size, len(visits))))
            for s in range(0, len(visits), batch_size)
        ]
    generator = torch.Generator().manual_seed(seed)
    return [
        pretrain_batch([visits[i] for i in g], num_diag, num_meds, mask_prob, generator)
        for g in groups
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
    lr_by_param: dict[torch.nn.Parameter, float] | None = None,
    callbacks: Iterable[Callback] = (),
    show_progress: bool = True,
    dist: Dist | None = None,
) -> FitResult:
    """Pre-train ``model``; the validation loss (fixed masks) picks ``best.ckpt``.

    ``step_loss`` replaces the training loss (DHA fusion adds its penalty there);
    ``lr_by_param`` gives some parameters their own learning rate; ``callbacks`` see each epoch;
    ``dist``: see :func:`~training.gbert.steps.fit_stage`.
    """
    sizes = {
        "num_diag": model.encoder.config.num_diag_codes,
        "num_meds": model.encoder.config.num_meds,
    }
    val_batches = visit_batches(
        val, batch_size=batch_size, mask_prob=mask_prob, seed=seed, shuffle=False, **sizes
    )
    loss_fn = step_loss or pretrain_loss
    return fit_stage(
        model,
        step=loss_fn,
        batches=lambda epoch: visit_batches(
            train,
            batch_size=batch_size,
            mask_prob=mask_prob,
            seed=seed * 1000 + epoch,
            shuffle=True,
            **sizes,
        ),
        evaluate=lambda: {"loss": mean_loss(model, val_batches)},
        monitor=Monitor("loss", "min"),
        epochs=epochs,
        lr=lr,
        run_dir=run_dir,
        extra=extra,
        after_step=after_step,
        lr_by_param=lr_by_param,
        callbacks=callbacks,
        show_progress=show_progress,
        dist=dist,
    )
