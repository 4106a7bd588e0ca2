from __future__ import annotations

import numpy as np
import pytest

from app.contract.ddi_control import limit_ddi_rate
from training.data.vocab import Vocabulary
from training.evaluate.ddi_curve import (
    curve_targets,
    ddi_curve,
    limited_sets,
    limited_sets_by_target,
)
from training.evaluate.footing import align

# meds 0-1 and 1-2 interact; 3 interacts with nothing
INTERACTS = np.zeros((4, 4), dtype=bool)
INTERACTS[0, 1] = INTERACTS[1, 0] = INTERACTS[1, 2] = INTERACTS[2, 1] = True


def test_limited_sets_are_subsets_within_the_target() -> None:
    prob = [np.array([[0.9, 0.6, 0.8, 0.7], [0.2, 0.9, 0.9, 0.1]])]
    (full,) = limited_sets(prob, 0.5, INTERACTS, 1.0)
    np.testing.assert_array_equal(full, [[1, 1, 1, 1], [0, 1, 1, 0]])
    (none,) = limited_sets(prob, 0.5, INTERACTS, 0.0)
    # visit 0: 1 (p 0.6) is in both pairs and cheapest: dropped; visit 1: 1 and 2 tie, lower col
    np.testing.assert_array_equal(none, [[1, 0, 1, 1], [0, 0, 1, 0]])
    assert np.all(none <= full)


def test_the_curve_achieves_each_target_and_ends_unconstrained() -> None:
    rng = np.random.default_rng(0)
    y_prob = [rng.random((3, 4)) for _ in range(5)]
    y_true = [p > 0.4 for p in y_prob]
    targets = curve_targets(0.5, points=6)
    assert targets == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    curve = ddi_curve(y_true, y_prob, threshold=0.3, interacts=INTERACTS, targets=targets)
    assert [c["target"] for c in curve] == targets
    assert all(c["ddi_rate"] <= c["target"] + 1e-12 for c in curve)
    loose = ddi_curve(y_true, y_prob, threshold=0.3, interacts=INTERACTS, targets=[1.0])[0]
    assert loose["ddi_rate"] > 0 and curve[0]["ddi_rate"] == 0.0


def test_align_puts_columns_in_the_evaluation_order_and_zero_fills() -> None:
    vocab = Vocabulary(("A01A", "B01A", "C07A"))
    (out,) = align([np.array([[0.3, 0.9, 0.5]])], ["C07A", "A01A", "Z99Z"], vocab)
    np.testing.assert_array_equal(out, [[0.9, 0.0, 0.3]])


def _per_visit_rule(
    y_prob: list[np.ndarray], threshold: float, interacts: np.ndarray, target: float
) -> list[np.ndarray]:
    """The sets of ``limit_ddi_rate`` applied to each visit on its own (the API's path)."""
    out = []
    for prob in y_prob:
        sets = np.zeros_like(prob)
        for t, row in enumerate(prob):
            chosen = np.flatnonzero(row >= threshold).tolist()
            kept, _ = limit_ddi_rate(chosen, row, interacts, target)
            sets[t, kept] = 1.0
        out.append(sets)
    return out


def assert_sets_match_the_rule(
    y_prob: list[np.ndarray], threshold: float, interacts: np.ndarray, targets: list[float]
) -> None:
    """Every target's sets from one drop order per visit equal ``limit_ddi_rate``'s, exactly."""
    by_target = limited_sets_by_target(y_prob, threshold, interacts, targets)
    for target, sets in zip(targets, by_target, strict=True):
        expected = _per_visit_rule(y_prob, threshold, interacts, target)
        for got, want in zip(sets, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_one_drop_order_per_visit_gives_the_rules_sets_for_every_target() -> None:
    rng = np.random.default_rng(3)
    m = 20
    upper = np.triu(rng.random((m, m)) < 0.2, 1)
    interacts = upper | upper.T
    y_prob = [rng.random((int(rng.integers(1, 5)), m)).round(2) for _ in range(30)]
    assert_sets_match_the_rule(y_prob, 0.4, interacts, curve_targets(0.3))
