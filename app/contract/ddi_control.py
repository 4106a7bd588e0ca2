"""The DDI-controlled decision rule: shrink a medication set until its known-DDI rate is low enough.

A set's known-DDI rate is the fraction of its unordered pairs that are known interactions (the
metric of ``training/metrics.py``). :func:`limit_ddi_rate` drops, one at a time, the medication
whose removal costs the least probability mass among the medications that take part in a known
interacting pair of the current set (ties: the one in more such pairs, then the lower column),
until the rate is at or below the target. The result is always a subset of the input set.
Each drop depends only on the set left, not on the target, so a lower target continues the drops
of a higher one: :func:`drop_order` gives a set's whole order once and :func:`drops_within` how
much of it a target takes.

Training (the report's Jaccard vs DDI-rate curve) and serving (``max_ddi_rate`` on a request) use
this one function, so the figures a report shows are the rule the API applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DroppedMedication:
    """One step of the rule.

    Attributes:
        index: the dropped medication's column.
        probability: its probability.
        partners: the columns, still in the set when it was dropped, it is known to interact with.
        rate_before: the set's known-DDI rate before this drop.
        rate_after: the rate after it.
    """

    index: int
    probability: float
    partners: tuple[int, ...]
    rate_before: float
    rate_after: float


def known_ddi_rate(selected: Sequence[int], interacts: np.ndarray) -> float:
    """Return interacting pairs / all pairs of ``selected`` (0.0 for fewer than two medications).

    Args:
        selected: distinct column indices.
        interacts: bool ``[M, M]``, symmetric, ``True`` where a pair is a known interaction.
    """
    ids = np.asarray(selected, dtype=np.int64)
    n = len(ids)
    if n < 2:
        return 0.0
    sub = interacts[np.ix_(ids, ids)]
    return float(np.triu(sub, 1).sum()) / (n * (n - 1) / 2)


def _check_rate(max_rate: float) -> None:
    if not 0.0 <= max_rate <= 1.0:
        raise ValueError("max_ddi_rate must be in [0, 1]")


def drop_order(
    selected: Sequence[int], probabilities: np.ndarray, interacts: np.ndarray, until: float = 0.0
) -> list[DroppedMedication]:
    """Return the rule's drops from ``selected``, in order, until the rate is at or below ``until``.

    Each drop depends only on the set the earlier drops left, never on the target, so the drops
    for a lower target continue those for a higher one: the drops for ``max_rate`` are the first
    :func:`drops_within` ``(drops, max_rate)`` of ``drop_order(..., until=0.0)``, for any
    ``max_rate >= 0`` (what the report's curve uses: one order per visit serves every target).

    Args:
        selected: column indices (repeats are dropped, the first occurrence kept).
        probabilities: float ``[M]``, the model's probability of each column.
        interacts: bool ``[M, M]``, symmetric known-interaction matrix (diagonal ignored).
        until: the rate at or below which dropping stops, in ``[0, 1]``.

    Raises:
        ValueError: when ``until`` is outside ``[0, 1]``.
    """
    _check_rate(until)
    kept = list(dict.fromkeys(int(i) for i in selected))
    dropped: list[DroppedMedication] = []
    rate = known_ddi_rate(kept, interacts)
    while rate > until:
        ids = np.asarray(kept, dtype=np.int64)
        sub = interacts[np.ix_(ids, ids)].copy()
        np.fill_diagonal(sub, False)
        degree = sub.sum(axis=1)
        involved = np.flatnonzero(degree > 0)  # non-empty while rate > 0
        order = sorted(involved, key=lambda k: (float(probabilities[ids[k]]), -degree[k], ids[k]))
        k = int(order[0])
        index = int(ids[k])
        partners = tuple(int(j) for j in ids[np.flatnonzero(sub[k])])
        kept.pop(k)
        new_rate = known_ddi_rate(kept, interacts)
        dropped.append(
            DroppedMedication(index, float(probabilities[index]), partners, rate, new_rate)
        )
        rate = new_rate
    return dropped


def drops_within(drops: Sequence[DroppedMedication], max_rate: float) -> int:
    """Return how many of :func:`drop_order`'s ``drops`` the rule makes for ``max_rate``.

    That is the fewest drops after which the rate is at or below ``max_rate`` (0 when the set
    already meets it), the rule's stopping point.

    Raises:
        ValueError: when ``max_rate`` is outside ``[0, 1]``, or ``drops`` stop above it.
    """
    _check_rate(max_rate)
    if not drops or drops[0].rate_before <= max_rate:
        return 0
    for count, drop in enumerate(drops, start=1):
        if drop.rate_after <= max_rate:
            return count
    raise ValueError("drops_within: the drops stop above max_ddi_rate")


def limit_ddi_rate(
    selected: Sequence[int], probabilities: np.ndarray, interacts: np.ndarray, max_rate: float
) -> tuple[list[int], list[DroppedMedication]]:
    """Drop medications from ``selected`` until its known-DDI rate is at or below ``max_rate``.

    Args:
        selected: the decision rule's set, as distinct column indices.
        probabilities: float ``[M]``, the model's probability of each column.
        interacts: bool ``[M, M]``, symmetric known-interaction matrix (diagonal ignored).
        max_rate: the target rate, in ``[0, 1]``.

    Returns:
        The kept columns (in the order of ``selected``) and the drops, in order
        (:func:`drop_order` until ``max_rate``).

    Raises:
        ValueError: when ``max_rate`` is outside ``[0, 1]``.
    """
    dropped = drop_order(selected, probabilities, interacts, until=max_rate)
    gone = {d.index for d in dropped}
    kept = [i for i in dict.fromkeys(int(i) for i in selected) if i not in gone]
    return kept, dropped
