r"""GAMENet's losses, as pure functions of logits and targets.

Every function works on a flat set of N visits (``[N, M]`` logits) and returns one loss per visit,
so a trainer can average them over a batch or pick one per visit. Following the official code
(github.com/sjy1203/GAMENet, ``code/train_GAMENet.py``):

.. math::
    L_{pred} &= 0.9\,\mathrm{BCE}(\hat{y}, y)
               + 0.01\,\mathrm{MultiLabelMargin}(\sigma(\hat{y}), y)\\
    L_{DDI} &= \frac{1}{M^2}\sum_{i,j} \sigma(\hat{y})_i\,\sigma(\hat{y})_j\,A^{DDI}_{ij}

and, per visit, the annealed choice: when the DDI rate of the visit's own thresholded prediction
exceeds the target, the loss is :math:`L_{DDI}` *alone* with probability
:math:`\exp((\text{target} - \text{ddi}) / T)`, otherwise :math:`L_{pred}`.

Dimension letters: N visits, M medications.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BCE_WEIGHT = 0.9
MARGIN_WEIGHT = 0.01


def margin_targets(targets: Tensor) -> Tensor:
    """Turn multi-hot targets ``[N, M]`` into ``multilabel_margin_loss`` form.

    Each row lists the positive indices first, in increasing order, then ``-1`` padding.

    >>> margin_targets(torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])).tolist()
    [[1, 2, -1], [0, -1, -1]]
    """
    m = targets.size(-1)
    positive = targets > 0
    idx = torch.arange(m, device=targets.device).expand_as(targets)  # [N, M]
    # Sort positives first while keeping index order: key = index, +M for negatives.
    keys = torch.where(positive, idx, idx + m)
    order = keys.argsort(dim=-1)
    ranked = idx.gather(-1, order)
    count = positive.sum(-1, keepdim=True)  # [N, 1]
    return torch.where(idx < count, ranked, torch.full_like(ranked, -1))


def prediction_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Return ``0.9·BCE + 0.01·multi-label margin`` per visit, shape ``[N]``.

    Args:
        logits: ``[N, M]`` raw scores.
        targets: ``[N, M]`` multi-hot float targets.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(-1)
    margin = F.multilabel_margin_loss(
        torch.sigmoid(logits), margin_targets(targets), reduction="none"
    )
    return BCE_WEIGHT * bce + MARGIN_WEIGHT * margin


def ddi_loss(logits: Tensor, ddi_adj: Tensor) -> Tensor:
    """Return the mean over M×M of ``(σ(o)ᵀσ(o)) ⊙ A_ddi`` per visit, shape ``[N]``.

    Args:
        logits: ``[N, M]`` raw scores.
        ddi_adj: ``[M, M]`` 0/1 interaction matrix.
    """
    prob = torch.sigmoid(logits)  # [N, M]
    # sum_ij p_i A_ij p_j without materialising N × M × M.
    return ((prob @ ddi_adj) * prob).sum(-1) / ddi_adj.numel()


def visit_ddi_rate(predicted: Tensor, ddi_adj: Tensor) -> Tensor:
    """Return each visit's DDI rate: interacting pairs / all pairs of its predicted meds.

    As the official ``ddi_rate_score`` does, a pair counts as interacting when either direction
    is marked, the diagonal is ignored, and a visit with fewer than two meds has rate 0.

    Args:
        predicted: ``[N, M]`` bool (or 0/1) predicted sets.
        ddi_adj: ``[M, M]`` 0/1 interaction matrix.

    Returns:
        ``[N]`` float rates.
    """
    pred = predicted.to(ddi_adj.dtype)
    sym = ((ddi_adj + ddi_adj.t()) > 0).to(ddi_adj.dtype)
    sym = sym * (1 - torch.eye(sym.size(0), dtype=sym.dtype, device=sym.device))
    interacting = ((pred @ sym) * pred).sum(-1) / 2  # [N] unordered pairs
    k = pred.sum(-1)
    pairs = k * (k - 1) / 2
    return torch.where(pairs > 0, interacting / pairs.clamp(min=1), torch.zeros_like(pairs))


def use_ddi_loss(
    ddi_rate: Tensor, uniform: Tensor, *, target_ddi: float, temperature: float
) -> Tensor:
    """Return, per visit, whether its loss is the DDI loss (the annealed choice).

    Args:
        ddi_rate: ``[N]`` DDI rate of each visit's thresholded prediction.
        uniform: ``[N]`` draws from U(0, 1), one per visit (the caller owns the RNG).
        target_ddi: the target DDI rate (0.05 in the paper).
        temperature: the annealing temperature T.

    Returns:
        ``[N]`` bool: ``ddi > target and u < exp((target - ddi) / T)``.
    """
    accept = torch.exp((target_ddi - ddi_rate) / temperature)
    return (ddi_rate > target_ddi) & (uniform < accept)


def annealed_loss(
    logits: Tensor,
    targets: Tensor,
    ddi_adj: Tensor,
    uniform: Tensor,
    *,
    target_ddi: float,
    temperature: float,
    threshold: float = 0.5,
) -> tuple[Tensor, Tensor]:
    """Return each visit's chosen loss ``[N]`` and which visits chose the DDI loss ``[N]``.

    Each visit picks its own loss, exactly as the official code picks one per single-visit
    step; a batched trainer then averages the chosen losses.
    """
    with torch.no_grad():
        rate = visit_ddi_rate(torch.sigmoid(logits) >= threshold, ddi_adj)
        chosen = use_ddi_loss(rate, uniform, target_ddi=target_ddi, temperature=temperature)
    loss = torch.where(chosen, ddi_loss(logits, ddi_adj), prediction_loss(logits, targets))
    return loss, chosen
