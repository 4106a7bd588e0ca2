"""Pair-type metrics of GENN (official ``DDItest/util.py`` ``metric_report``), as pure functions.

- ``roc_auc`` / ``pr_auc``: per-type ROC-AUC and average precision, macro-averaged over the types
  with at least one positive among the scored pairs (a type with no negative is skipped too:
  ROC-AUC is undefined there);
- ``p@k``: per pair, the fraction of its top-k scored types that are true, averaged over pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

METRIC_KEYS = ("roc_auc", "pr_auc", "p@1", "p@3", "p@5")


def precision_at_k(y_true: np.ndarray, y_prob: np.ndarray, k: int) -> float:
    """Mean over pairs of ``|top-k types ∩ true types| / k`` (``[P, T]`` arrays)."""
    top = np.argsort(-y_prob, axis=1, kind="stable")[:, :k]  # [P, k]
    hits = np.take_along_axis(y_true > 0, top, axis=1).sum(axis=1)  # [P]
    return float(np.mean(hits / k)) if len(y_true) else 0.0


def roc_auc_columns(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    """Per-column ROC-AUC (Mann-Whitney with average ranks for ties; equals sklearn's)."""
    pos = y_true > 0
    n_pos, n_neg = pos.sum(axis=0), (~pos).sum(axis=0)
    ranks = rankdata(y_prob, axis=0)  # [P, T], ties averaged
    rank_sum = np.where(pos, ranks, 0.0).sum(axis=0)
    return np.asarray((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Average precision of one column, as sklearn's ``average_precision_score``."""
    order = np.argsort(-y_prob, kind="stable")
    y, p = y_true[order] > 0, y_prob[order]
    last = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    precision, recall = tp / (last + 1), tp / max(1, int(y.sum()))
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def type_metrics(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float]:
    """Return ``roc_auc``, ``pr_auc``, ``p@1``, ``p@3``, ``p@5`` for ``[P, T]`` labels/scores.

    Raises:
        ValueError: if shapes differ or no type has both a positive and a negative pair.
    """
    if y_true.shape != y_prob.shape:
        raise ValueError(f"type_metrics: shapes differ: {y_true.shape} vs {y_prob.shape}")
    positives = y_true.sum(axis=0)
    usable = np.flatnonzero((positives >= 1) & (positives < len(y_true)))
    if len(usable) == 0:
        raise ValueError("type_metrics: no type has both positive and negative pairs")
    rocs = roc_auc_columns(y_true[:, usable], y_prob[:, usable])
    prs = [average_precision(y_true[:, t], y_prob[:, t]) for t in usable]
    out = {"roc_auc": float(np.mean(rocs)), "pr_auc": float(np.mean(prs))}
    for k in (1, 3, 5):
        out[f"p@{k}"] = precision_at_k(y_true, y_prob, k)
    return out


def bootstrap_type_metrics(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    *,
    rounds: int = 10,
    fraction: float = 0.8,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Return ``{key: {"mean", "std"}}`` over ``rounds`` subsamples of ``fraction`` of the pairs.

    A subsample in which no type is scorable is skipped; if all are, the full set is scored.
    """
    rng = np.random.default_rng(seed)
    n = max(1, int(len(y_true) * fraction))
    runs = []
    for _ in range(rounds):
        idx = rng.choice(len(y_true), size=n, replace=False)
        try:
            runs.append(type_metrics(y_true[idx], y_prob[idx]))
        except ValueError:
            continue
    if not runs:
        runs.append(type_metrics(y_true, y_prob))
    return {
        k: {
            "mean": float(np.mean([r[k] for r in runs])),
            "std": float(np.std([r[k] for r in runs])),
        }
        for k in METRIC_KEYS
    }
