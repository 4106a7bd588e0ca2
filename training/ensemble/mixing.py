"""Choosing the mixing weights and the decision threshold on validation.

Weights are points of a regular grid over the simplex (``step`` 0.1: 11 points for two members,
66 for three), so every mix is a convex combination of calibrated probabilities. The objective is
the Jaccard the models are selected on, averaged as :func:`training.metrics.tune_threshold` does
(visits within a patient, then patients: each visit weighs ``1 / (V_p P)``). The procedure:

1. **global**: the grid point and threshold (``training.metrics.THRESHOLD_GRID``) with the best
   Jaccard on all validation visits;
2. **per pattern**: for each bucket with at least ``min_support`` validation visits, the grid
   point with the best Jaccard on the bucket's visits at the global threshold, when it beats the
   global weights there; a thinner bucket keeps the global weights;
The per-pattern mix's own threshold is then tuned on validation with
:func:`training.metrics.tune_threshold`, as every other row's (:mod:`training.ensemble.run`).
Nothing here sees the test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from training.metrics import THRESHOLD_GRID

THRESHOLDS = np.array(THRESHOLD_GRID)


def simplex_grid(members: int, step: float = 0.1) -> np.ndarray:
    """Return ``[G, members]`` weights: every grid point of the simplex with spacing ``step``.

    Raises:
        ValueError: for fewer than one member, or a ``step`` that does not divide 1.
    """
    n = round(1 / step)
    if members < 1 or not np.isclose(n * step, 1.0):
        raise ValueError("simplex_grid: need members >= 1 and a step that divides 1")
    points = [c for c in product(range(n + 1), repeat=members - 1) if sum(c) <= n]
    grid = np.array([[*c, n - sum(c)] for c in points], dtype=np.float64) / n
    return grid


def mix(calibrated: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return ``[N, M]`` mixed probabilities.

    Args:
        calibrated: ``[K, N, M]`` calibrated member probabilities.
        weights: ``[K]`` one weight vector, or ``[N, K]`` one per visit.
    """
    if weights.ndim == 1:
        result: np.ndarray = np.einsum("knm,k->nm", calibrated, weights)
    else:
        result = np.einsum("knm,nk->nm", calibrated, weights)
    return result


def jaccard_by_threshold(
    target: np.ndarray,
    prob: np.ndarray,
    thresholds: np.ndarray,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``[T]``: the mean visit Jaccard of ``prob >= t`` against ``target`` for each ``t``.

    The predicted set at any threshold is a prefix of the visit's meds sorted by score, so each
    visit's Jaccard at every set size is computed once from cumulative sums (this runs once per
    grid point, where :func:`training.metrics.tune_threshold` would rescan every threshold).
    ``weight`` (``[N]``, default uniform) weighs the visits of the mean.
    """
    n, m = prob.shape
    order = np.argsort(-prob, axis=1, kind="stable")
    hits = np.take_along_axis(target, order, axis=1).cumsum(axis=1)  # [N, M]
    hits = np.concatenate([np.zeros((n, 1)), hits], axis=1)  # [N, M + 1], by set size
    size = np.arange(m + 1)[None, :]
    union = size + target.sum(axis=1, keepdims=True) - hits
    by_size = np.divide(hits, union, out=np.zeros_like(hits), where=union > 0)  # [N, M + 1]
    sorted_prob = -np.sort(-prob, axis=1)  # [N, M], descending
    counts = (sorted_prob[:, :, None] >= thresholds[None, None, :]).sum(axis=1)  # [N, T]
    jaccard: np.ndarray = np.average(
        np.take_along_axis(by_size, counts, axis=1), axis=0, weights=weight
    )
    return jaccard


@dataclass(frozen=True)
class MixChoice:
    """The weights and thresholds chosen on validation.

    Attributes:
        global_weights: ``[K]`` the best single weight vector.
        global_threshold: its best threshold.
        bucket_weights: ``[NUM_BUCKETS, K]`` the weights of each bucket.
        bucket_support: validation visits of each bucket.
        fitted_buckets: whether each bucket had the support for its own weights.
    """

    global_weights: np.ndarray
    global_threshold: float
    bucket_weights: np.ndarray
    bucket_support: np.ndarray
    fitted_buckets: np.ndarray


def best_threshold(
    target: np.ndarray, prob: np.ndarray, weight: np.ndarray | None = None
) -> tuple[float, float]:
    """Return the ``THRESHOLDS`` entry with the best mean visit Jaccard, and that Jaccard."""
    scores = jaccard_by_threshold(target, prob, THRESHOLDS, weight)
    best = int(np.argmax(scores))
    return float(THRESHOLDS[best]), float(scores[best])


def choose_mix(
    calibrated: np.ndarray,
    target: np.ndarray,
    buckets: np.ndarray,
    num_buckets: int,
    *,
    weight: np.ndarray | None = None,
    step: float = 0.1,
    min_support: int = 100,
) -> MixChoice:
    """Choose global and per-bucket weights on validation visits.

    Args:
        calibrated: ``[K, N, M]`` calibrated member probabilities of the validation visits.
        target: bool ``[N, M]`` the meds given at each visit.
        buckets: int ``[N]`` each visit's bucket.
        num_buckets: how many buckets there are.
        weight: ``[N]`` each visit's weight in the Jaccard means (default uniform).
        step: the simplex grid spacing.
        min_support: the fewest validation visits a bucket needs for its own weights.
    """
    grid = simplex_grid(calibrated.shape[0], step)
    weight = np.ones(len(target)) if weight is None else weight
    scored = [best_threshold(target, mix(calibrated, w), weight) for w in grid]
    best = int(np.argmax([s for _, s in scored]))  # first best: ties keep the earlier point
    global_weights, global_threshold = grid[best], scored[best][0]
    at_global = np.array([global_threshold])
    support = np.bincount(buckets, minlength=num_buckets)
    fitted = support >= min_support
    weights = np.tile(global_weights, (num_buckets, 1))
    for b in np.flatnonzero(fitted):
        rows = buckets == b
        part = calibrated[:, rows]
        scores = [
            jaccard_by_threshold(target[rows], mix(part, w), at_global, weight[rows])[0]
            for w in grid
        ]
        if max(scores) > scores[best]:  # a tie keeps the global weights
            weights[b] = grid[int(np.argmax(scores))]
    return MixChoice(global_weights, global_threshold, weights, support, fitted)


def stack_members(per_member: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """``[K][P][V_p, M]`` per-patient member scores → ``[K, N, M]`` over all visits in order."""
    return np.stack([np.concatenate(list(patients), axis=0) for patients in per_member])
