"""The report's Jaccard vs DDI-rate curve under the ``max_ddi_rate`` rule.

For each target rate, every test visit's set (probability ``>= threshold``) is shrunk with
:func:`app.contract.ddi_control.limit_ddi_rate`, the rule the API applies, and the shrunk sets
are scored with :mod:`training.metrics`. Each visit's rate is at or below the target, so the
pooled rate (interacting pairs / pairs over all visits) is too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.contract.ddi_control import limit_ddi_rate
from training.metrics import recommendation_metrics


def curve_targets(truth_rate: float, points: int = 11) -> list[float]:
    """Return ``points`` evenly spaced targets from 0 to ``truth_rate`` (both included)."""
    return [float(t) for t in np.linspace(0.0, max(truth_rate, 0.0), points)]


def limited_sets(
    y_prob: Sequence[np.ndarray], threshold: float, interacts: np.ndarray, max_rate: float
) -> list[np.ndarray]:
    """Return, per patient, the float 0/1 ``[V_p, M]`` sets left by ``limit_ddi_rate``."""
    out = []
    for prob in y_prob:
        sets = np.zeros_like(prob, dtype=np.float64)
        for t, row in enumerate(prob):
            chosen = np.flatnonzero(row >= threshold).tolist()
            kept, _ = limit_ddi_rate(chosen, row, interacts, max_rate)
            sets[t, kept] = 1.0
        out.append(sets)
    return out


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
    for target in targets:
        sets = limited_sets(y_prob, threshold, interacts, target)
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
