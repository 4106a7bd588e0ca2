"""The report's Jaccard vs DDI-rate curve under the ``max_ddi_rate`` rule.

For each target rate, every test visit's set (probability ``>= threshold``) is shrunk by the
rule the API applies (:mod:`app.contract.ddi_control`), and the shrunk sets are scored with
:mod:`training.metrics`. Each visit's rate is at or below the target, so the pooled rate
(interacting pairs / pairs over all visits) is too. The rule's drops for a lower target continue
those for a higher one, so each visit's drop order is computed once
(:func:`~app.contract.ddi_control.drop_order`) and each target keeps a prefix of it
(:func:`~app.contract.ddi_control.drops_within`): the sets ``limit_ddi_rate`` gives, per target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.contract.ddi_control import drop_order, drops_within
from training.metrics import recommendation_metrics


def curve_targets(truth_rate: float, points: int = 11) -> list[float]:
    """Return ``points`` evenly spaced targets from 0 to ``truth_rate`` (both included)."""
    return [float(t) for t in np.linspace(0.0, max(truth_rate, 0.0), points)]


def limited_sets_by_target(
    y_prob: Sequence[np.ndarray], threshold: float, interacts: np.ndarray, targets: Sequence[float]
) -> list[list[np.ndarray]]:
    """Return, per target then per patient, the 0/1 ``[V_p, M]`` sets ``limit_ddi_rate`` leaves.

    Raises:
        ValueError: for a target outside ``[0, 1]``.
    """
    out = [[np.zeros_like(prob, dtype=np.float64) for prob in y_prob] for _ in targets]
    for p, prob in enumerate(y_prob):
        for t, row in enumerate(prob):
            chosen = np.flatnonzero(row >= threshold)
            drops = drop_order(chosen.tolist(), row, interacts)
            dropped = np.array([d.index for d in drops], dtype=np.int64)
            for sets, target in zip(out, targets, strict=True):
                sets[p][t, chosen] = 1.0
                sets[p][t, dropped[: drops_within(drops, target)]] = 0.0
    return out


def limited_sets(
    y_prob: Sequence[np.ndarray], threshold: float, interacts: np.ndarray, max_rate: float
) -> list[np.ndarray]:
    """Return, per patient, the float 0/1 ``[V_p, M]`` sets left by ``limit_ddi_rate``."""
    return limited_sets_by_target(y_prob, threshold, interacts, [max_rate])[0]


def ddi_curve(
    y_true: Sequence[np.ndarray],
    y_prob: Sequence[np.ndarray],
    *,
    threshold: float,
    interacts: np.ndarray,
    targets: Sequence[float],
) -> list[dict[str, float]]:
    """Return ``{"target", "ddi_rate", "jaccard", "avg_meds"}`` for each target rate.

    Args:
        y_true: per patient, bool ``[V_p, M]`` true meds.
        y_prob: per patient, float ``[V_p, M]`` scores.
        threshold: the decision threshold whose sets are shrunk.
        interacts: bool symmetric ``[M, M]`` known interactions.
        targets: target rates in ``[0, 1]``.
    """
    adj = interacts.astype(np.float64)
    rows = []
    by_target = limited_sets_by_target(y_prob, threshold, interacts, targets)
    for target, sets in zip(targets, by_target, strict=True):
        m = recommendation_metrics(y_true, sets, threshold=0.5, ddi_adj=adj)
        rows.append(
            {
                "target": float(target),
                "ddi_rate": m["ddi_rate"],
                "jaccard": m["jaccard"],
                "avg_meds": m["avg_meds"],
            }
        )
    return rows
