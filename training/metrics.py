"""Medication-recommendation metrics, as the GAMENet and SafeDrug reference code computes them.

Reference: ``multi_label_metric``, ``ddi_rate_score`` and the ``eval`` loop of
``sjy1203/GAMENet`` (``code/util.py``, ``code/train_GAMENet.py``) and ``ycq091044/SafeDrug``
(``src/util.py``, ``src/SafeDrug.py``). This is our own vectorised code; tests compare it with
sklearn and with hand-computed cases.

Inputs: ``y_true[p]`` is a bool ``[V_p, M]`` matrix and ``y_prob[p]`` a float ``[V_p, M]`` matrix
for patient ``p``, one row per predicted visit. A med is predicted when its score is
``>= threshold`` (the reference's ``y_pred_tmp[y_pred_tmp >= 0.5] = 1``).

Per visit:

- **jaccard** = |pred ∩ true| / |pred ∪ true|;
- **prauc** = average precision of the scores against the true set, sklearn's
  ``average_precision_score`` (step-wise, tied scores form one threshold);
- **f1** = 2·P·R / (P + R) of the set precision P = |pred ∩ true| / |pred| and recall
  R = |pred ∩ true| / |true| (the reference's ``avg_f1``, not sklearn's per-label macro F1).

Averaging: the per-visit values are averaged within each patient, then across patients (the
reference calls ``multi_label_metric`` once per patient and takes ``np.mean`` of the results).
**ddi_rate** is pooled over all visits: interacting predicted pairs / all predicted pairs.
**avg_meds** is pooled too: predicted meds / visits (``med_cnt / visit_cnt``).

Edge cases, and what we chose:

- empty union (nothing true, nothing predicted): the reference divides by zero (its guard
  ``union == 0`` compares a set with 0 and never fires); we give jaccard 0, as sklearn's
  ``jaccard_score`` does by default;
- empty prediction: precision 0 (the reference's guard), hence F1 0, jaccard 0 when the true set
  is not empty;
- no true med in a visit: recall 0 (reference), prauc 0 (sklearn 1.9 warns and returns 0; older
  sklearn gave NaN). Reference data has no such visit, but a test visit whose meds are all outside
  the training vocabulary becomes one;
- one predicted med: no pair, so the visit adds nothing to either count of the DDI rate;
- no predicted pair in any visit: DDI rate 0 (the reference's ``if all_cnt == 0: return 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRIC_KEYS = ("jaccard", "prauc", "f1", "ddi_rate", "avg_meds")
FIXED_THRESHOLD = 0.5  # the reference code's decision threshold
THRESHOLD_GRID = tuple(round(0.02 * i, 2) for i in range(1, 50))  # 0.02, 0.04, ..., 0.98


def average_precision(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Return sklearn's ``average_precision_score`` for each row, vectorised.

    AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ over the distinct score thresholds in decreasing order. A row without
    any positive label scores 0 (sklearn returns 0 with a warning).

    Args:
        y_true: bool ``[V, M]``.
        y_score: float ``[V, M]``.

    Returns:
        float64 ``[V]``.
    """
    order = np.argsort(-y_score, axis=1, kind="stable")
    scores = np.take_along_axis(y_score, order, axis=1)  # [V, M], decreasing
    hits = np.take_along_axis(y_true, order, axis=1).astype(np.float64)
    tps = np.cumsum(hits, axis=1)
    n_pos = tps[:, -1] if tps.shape[1] else np.zeros(len(tps))
    m = scores.shape[1]
    # Positions where the next score differs close a threshold group; every position of a group
    # shares the precision at the group's end.
    is_end = np.ones_like(scores, dtype=bool)
    is_end[:, :-1] = scores[:, :-1] != scores[:, 1:]
    ends = np.where(is_end, np.arange(m), m)
    group_end = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]  # [V, M]
    precision_at_end = np.take_along_axis(tps, group_end, axis=1) / (group_end + 1)
    summed = (hits * precision_at_end).sum(axis=1)
    ap: np.ndarray = np.divide(summed, n_pos, out=np.zeros_like(summed), where=n_pos > 0)
    return ap


def _pair_counts(pred: np.ndarray, ddi_sym: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per visit: interacting unordered pairs and all unordered pairs among predicted meds."""
    p = pred.astype(np.float64)
    interacting = ((p @ ddi_sym) * p).sum(axis=1) / 2
    n = p.sum(axis=1)
    return interacting, n * (n - 1) / 2


def _symmetric(ddi_adj: np.ndarray) -> np.ndarray:
    """The reference counts a pair when ``A[i, j] == 1 or A[j, i] == 1``, and never ``i == j``."""
    sym: np.ndarray = ((ddi_adj != 0) | (ddi_adj.T != 0)).astype(np.float64)
    np.fill_diagonal(sym, 0.0)
    return sym


def ddi_rate(predicted: Sequence[np.ndarray], ddi_adj: np.ndarray) -> float:
    """Return the fraction of predicted med pairs that interact, pooled over visits.

    Each unordered pair of distinct meds in a visit counts once (the reference loops ``j > i``);
    a pair interacts when ``ddi_adj`` is non-zero in either direction. Repeated ids in a visit are
    counted once.

    Args:
        predicted: one array of med ids per visit.
        ddi_adj: ``[M, M]`` DDI adjacency.

    Returns:
        interacting pairs / all pairs, or 0.0 when no visit has two meds.

    >>> adj = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    >>> ddi_rate([np.array([0, 1, 2]), np.array([2])], adj)
    0.3333333333333333
    """
    sym = _symmetric(ddi_adj)
    pred = np.zeros((len(predicted), sym.shape[0]), dtype=bool)
    for row, ids in enumerate(predicted):
        pred[row, np.asarray(ids, dtype=np.int64)] = True
    interacting, pairs = _pair_counts(pred, sym)
    total = pairs.sum()
    return float(interacting.sum() / total) if total > 0 else 0.0


def ddi_rate_per_visit(pred: np.ndarray, ddi_adj: np.ndarray) -> np.ndarray:
    """Return each visit's own DDI rate (as the reference's per-step ``ddi_rate_score([[y]])``).

    Args:
        pred: bool ``[V, M]`` predicted meds of each visit.
        ddi_adj: ``[M, M]`` DDI adjacency.

    Returns:
        float64 ``[V]``: interacting pairs / pairs, 0 for a visit with fewer than two meds.
    """
    interacting, pairs = _pair_counts(pred, _symmetric(ddi_adj))
    rate: np.ndarray = np.divide(interacting, pairs, out=np.zeros_like(pairs), where=pairs > 0)
    return rate


@dataclass(frozen=True)
class PatientStats:
    """Per-patient sums from which every metric (and every bootstrap round) is computed.

    Attributes:
        jaccard: ``[P]`` mean visit Jaccard of each patient.
        prauc: ``[P]`` mean visit PR-AUC of each patient.
        f1: ``[P]`` mean visit F1 of each patient.
        ddi_pairs: ``[P]`` interacting predicted pairs, summed over the patient's visits.
        all_pairs: ``[P]`` predicted pairs, summed over the patient's visits.
        meds: ``[P]`` predicted meds, summed over the patient's visits.
        visits: ``[P]`` visits.
    """

    jaccard: np.ndarray
    prauc: np.ndarray
    f1: np.ndarray
    ddi_pairs: np.ndarray
    all_pairs: np.ndarray
    meds: np.ndarray
    visits: np.ndarray

    def select(self, idx: np.ndarray) -> PatientStats:
        """Return the stats of the patients at ``idx`` (repeats allowed)."""
        return PatientStats(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def summary(self) -> dict[str, float]:
        """Return the five metrics over these patients."""
        pairs = self.all_pairs.sum()
        return {
            "jaccard": float(self.jaccard.mean()),
            "prauc": float(self.prauc.mean()),
            "f1": float(self.f1.mean()),
            "ddi_rate": float(self.ddi_pairs.sum() / pairs) if pairs > 0 else 0.0,
            "avg_meds": float(self.meds.sum() / self.visits.sum()),
        }


def _jaccard(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Return each row's |pred ∩ true| / |pred ∪ true| (0 for an empty union)."""
    inter = (pred & true).sum(axis=1).astype(np.float64)
    union = (pred | true).sum(axis=1)
    jaccard: np.ndarray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return jaccard


def visit_jaccard(true: np.ndarray, prob: np.ndarray, threshold: float) -> np.ndarray:
    """Return the Jaccard of each visit (row) of bool ``true`` against ``prob >= threshold``."""
    return _jaccard(prob >= threshold, np.asarray(true, dtype=bool))


def _visit_scores(true: np.ndarray, prob: np.ndarray, threshold: float) -> np.ndarray:
    """Return ``[V, 3]``: the jaccard, prauc and f1 of each visit."""
    pred = prob >= threshold
    inter = (pred & true).sum(axis=1).astype(np.float64)
    n_pred, n_true = pred.sum(axis=1), true.sum(axis=1)
    zeros = np.zeros_like(inter)
    jaccard = _jaccard(pred, true)
    precision = np.divide(inter, n_pred, out=zeros.copy(), where=n_pred > 0)
    recall = np.divide(inter, n_true, out=zeros.copy(), where=n_true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=zeros.copy(), where=denom > 0)
    return np.stack([jaccard, average_precision(true, prob), f1], axis=1)


def _check(y_true: Sequence[np.ndarray], y_prob: Sequence[np.ndarray], m: int) -> None:
    if len(y_true) == 0 or len(y_true) != len(y_prob):
        raise ValueError("metrics: need one y_true and one y_prob per patient, at least one")
    for t, p in zip(y_true, y_prob, strict=True):
        if t.ndim != 2 or t.shape != p.shape or t.shape[0] == 0 or t.shape[1] != m:
            raise ValueError("metrics: each patient needs [V>=1, M] y_true and y_prob")
        if not np.all(np.isfinite(p)):
            raise ValueError("metrics: y_prob holds NaN or infinite scores")


def patient_stats(
    y_true: Sequence[np.ndarray],
    y_prob: Sequence[np.ndarray],
    *,
    threshold: float,
    ddi_adj: np.ndarray,
) -> PatientStats:
    """Compute the per-patient sums behind :func:`recommendation_metrics`.

    Raises:
        ValueError: for mismatched shapes, a patient without visits, or non-finite scores.
    """
    y_true = [np.asarray(t) for t in y_true]
    y_prob = [np.asarray(p, dtype=np.float64) for p in y_prob]
    _check(y_true, y_prob, ddi_adj.shape[0])
    # every visit of every patient scored at once; each patient's mean is then taken over its
    # own rows (the same ``mean`` of the same array as scoring it alone, so the same bits), and
    # its counts summed (integers, exact)
    visits = np.array([len(t) for t in y_true])
    ends = np.cumsum(visits)
    starts = ends - visits
    true, prob = np.concatenate(y_true).astype(bool), np.concatenate(y_prob)
    pred = prob >= threshold
    scores = _visit_scores(true, prob, threshold)
    means = np.array([scores[a:b].mean(axis=0) for a, b in zip(starts, ends, strict=True)])
    jaccard, prauc, f1 = means.T
    interacting, pairs = _pair_counts(pred, _symmetric(ddi_adj))
    return PatientStats(
        jaccard,
        prauc,
        f1,
        np.add.reduceat(interacting, starts),
        np.add.reduceat(pairs, starts),
        np.add.reduceat(pred.sum(axis=1), starts).astype(np.float64),
        visits.astype(np.float64),
    )


def recommendation_metrics(
    y_true: Sequence[np.ndarray],
    y_prob: Sequence[np.ndarray],
    *,
    threshold: float,
    ddi_adj: np.ndarray,
) -> dict[str, float]:
    """Return jaccard, prauc, f1, ddi_rate and avg_meds as the reference computes them.

    Args:
        y_true: per patient, bool ``[V_p, M]`` true meds of each predicted visit.
        y_prob: per patient, float ``[V_p, M]`` scores of the same visits.
        threshold: a med is predicted when its score is ``>= threshold``.
        ddi_adj: ``[M, M]`` DDI adjacency (non-zero = interacting, either direction).

    Returns:
        ``{"jaccard", "prauc", "f1", "ddi_rate", "avg_meds"}`` as floats.

    Raises:
        ValueError: for mismatched shapes, a patient without visits, or non-finite scores.
    """
    return patient_stats(y_true, y_prob, threshold=threshold, ddi_adj=ddi_adj).summary()


def bootstrap_metrics(
    y_true: Sequence[np.ndarray],
    y_prob: Sequence[np.ndarray],
    *,
    threshold: float,
    ddi_adj: np.ndarray,
    rounds: int = 10,
    fraction: float = 0.8,
    seed: int = 0,
    replace: bool = False,
) -> dict[str, dict[str, float]]:
    """Return each metric's mean and std over ``rounds`` resamples of the patients.

    Each round draws ``round(fraction * P)`` patients (at least one) with a seeded
    ``numpy.random.default_rng(seed)`` and computes :func:`recommendation_metrics` on them; the
    std is ``np.std`` (population, ddof=0), as SafeDrug reports it. SafeDrug draws with
    replacement (``np.random.choice(data_test, round(len(data_test) * 0.8), replace=True)``);
    our default draws without (a subsample), ``replace=True`` gives SafeDrug's scheme.

    Returns:
        ``{metric: {"mean": float, "std": float}}`` for every key of
        :func:`recommendation_metrics`.

    Raises:
        ValueError: for ``rounds < 1`` or ``fraction`` outside ``(0, 1]``, and as
            :func:`recommendation_metrics`.
    """
    if rounds < 1 or not 0 < fraction <= 1:
        raise ValueError("bootstrap_metrics: need rounds >= 1 and 0 < fraction <= 1")
    stats = patient_stats(y_true, y_prob, threshold=threshold, ddi_adj=ddi_adj)
    n = len(y_true)
    size = max(1, round(fraction * n))
    rng = np.random.default_rng(seed)
    results = [
        stats.select(rng.choice(n, size=size, replace=replace)).summary() for _ in range(rounds)
    ]
    return {
        key: {
            "mean": float(np.mean([r[key] for r in results])),
            "std": float(np.std([r[key] for r in results])),
        }
        for key in METRIC_KEYS
    }


def tune_threshold(
    y_true: Sequence[np.ndarray],
    y_prob: Sequence[np.ndarray],
    grid: Sequence[float] = THRESHOLD_GRID,
) -> float:
    """Return the threshold of ``grid`` with the highest Jaccard on these (validation) visits.

    Jaccard is averaged as :func:`recommendation_metrics` does (visits within a patient, then
    patients). Ties go to the first such threshold in ``grid`` order. Pass validation patients:
    a threshold chosen on the test split makes its test figures optimistic.

    Args:
        y_true: per patient, bool ``[V_p, M]`` true meds.
        y_prob: per patient, float ``[V_p, M]`` scores.
        grid: the candidate thresholds, each in ``(0, 1)``.

    Raises:
        ValueError: for an empty grid, a threshold outside ``(0, 1)``, or as
            :func:`recommendation_metrics`.
    """
    if len(grid) == 0 or not all(0.0 < t < 1.0 for t in grid):
        raise ValueError("tune_threshold: need a non-empty grid of thresholds in (0, 1)")
    y_true = [np.asarray(t, dtype=bool) for t in y_true]
    y_prob = [np.asarray(p, dtype=np.float64) for p in y_prob]
    _check(y_true, y_prob, y_true[0].shape[1] if y_true else 0)
    true, prob = np.concatenate(y_true), np.concatenate(y_prob)
    # each visit weighs 1 / (its patient's visits · patients): the mean of patient means
    weight = np.concatenate([np.full(len(t), 1.0 / len(t)) for t in y_true]) / len(y_true)
    scores = [float(visit_jaccard(true, prob, t) @ weight) for t in grid]
    return float(grid[int(np.argmax(scores))])
