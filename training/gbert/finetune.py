"""G-BERT fine-tuning for medication recommendation, on every patient and every visit.

Visit t of each patient is predicted from its past visits' dx and rx [CLS] and its own dx [CLS]
(the diagnosis side's [CLS], which also reads the visit's procedures in a model with them);
a first visit has a zero past (as GAMENet's fact2 = fact1), so single-visit patients and first
visits are trained on and scored like the others (official G-BERT drops them). The loss is BCE
over every real visit. Metrics come from ``training.metrics`` with the literature averaging.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.gbert.model import GBertRecommender
from training.distributed import Dist
from training.fit import Callback, FitResult, Monitor
from training.gbert.batches import EncodedVisit, bucketed_batches, diag_side, recommend_batch
from training.gbert.steps import fit_stage

Patients = Sequence[Sequence[EncodedVisit]]


def patient_batches(
    patients: Patients,
    *,
    batch_size: int,
    num_meds: int,
    num_diag: int,
    seed: int,
    shuffle: bool,
) -> list[dict[str, Tensor]]:
    """Return padded batches of whole patients (length-bucketed when ``shuffle``)."""
    if shuffle:
        lengths = [len(p) * 100 + max(len(diag_side(v, num_diag)) for v in p) for p in patients]
        groups = bucketed_batches(lengths, batch_size, seed)
    else:
        groups = [
            list(range(s, min(s + batch_size, len(patients))))
            for s in range(0, len(patients), batch_size)
        ]
    return [recommend_batch([patients[i] for i in g], num_meds, num_diag) for g in groups]


def finetune_loss(model: GBertRecommender, batch: dict[str, Tensor]) -> Tensor:
    """Return the mean BCE over every real visit."""
    logits = model(batch["dx_tokens"], batch["rx_tokens"], batch["visit_mask"])  # [B, V, M]
    weight = batch["visit_mask"].unsqueeze(-1).expand_as(logits)
    loss = F.binary_cross_entropy_with_logits(
        logits, batch["targets"], weight=weight, reduction="sum"
    )
    return loss / (weight.sum() + 1e-9)


@torch.no_grad()
def predict(
    model: GBertRecommender, patients: Patients, *, batch_size: int, num_meds: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return per-patient ``y_true`` (bool) and ``y_prob`` ``[V_p, M]``, first visit included.

    Every patient needs at least one visit; the rows keep the order of ``patients``.
    """
    model.eval()
    y_true: list[np.ndarray] = []
    y_prob: list[np.ndarray] = []
    num_diag = model.encoder.config.num_diag_codes
    batches = patient_batches(
        patients,
        batch_size=batch_size,
        num_meds=num_meds,
        num_diag=num_diag,
        seed=0,
        shuffle=False,
    )
    for batch in batches:
        prob = torch.sigmoid(model(batch["dx_tokens"], batch["rx_tokens"], batch["visit_mask"]))
        lengths = batch["visit_mask"].sum(1).long().tolist()
        for row, n in enumerate(lengths):
            y_true.append(batch["targets"][row, :n].numpy().astype(bool))
            y_prob.append(prob[row, :n].numpy())
    return y_true, y_prob


def recommendation_figures(
    y_true: Sequence[np.ndarray],
    y_prob: Sequence[np.ndarray],
    *,
    threshold: float,
    ddi_adj: np.ndarray,
) -> dict[str, float]:
    """Return Jaccard, PR-AUC, F1, DDI rate and average #meds (``training.metrics``)."""
    from training.metrics import recommendation_metrics

    return dict(recommendation_metrics(y_true, y_prob, threshold=threshold, ddi_adj=ddi_adj))


def run_finetuning(
    model: GBertRecommender,
    train: Patients,
    val: Patients,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    threshold: float,
    ddi_adj: np.ndarray,
    run_dir: Path,
    extra: dict[str, Any],
    callbacks: Iterable[Callback] = (),
    show_progress: bool = True,
    dist: Dist | None = None,
) -> FitResult:
    """Fine-tune ``model`` (its trainable parameters); validation Jaccard picks ``best.ckpt``.

    ``dist``: see :func:`~training.gbert.steps.fit_stage`.
    """
    m, num_diag = model.encoder.config.num_meds, model.encoder.config.num_diag_codes

    def evaluate() -> dict[str, float]:
        y_true, y_prob = predict(model, val, batch_size=batch_size, num_meds=m)
        return recommendation_figures(y_true, y_prob, threshold=threshold, ddi_adj=ddi_adj)

    return fit_stage(
        model,
        step=finetune_loss,
        batches=lambda epoch: patient_batches(
            train,
            batch_size=batch_size,
            num_meds=m,
            num_diag=num_diag,
            seed=seed * 1000 + epoch,
            shuffle=True,
        ),
        evaluate=evaluate,
        monitor=Monitor("jaccard", "max"),
        epochs=epochs,
        lr=lr,
        run_dir=run_dir,
        extra=extra,
        callbacks=callbacks,
        show_progress=show_progress,
        dist=dist,
    )
