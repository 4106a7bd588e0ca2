"""The DDI-controlled decision rule: rate at or below the target, a subset, least mass first."""

from __future__ import annotations

import numpy as np
import pytest

from app.contract.ddi_control import drop_order, drops_within, known_ddi_rate, limit_ddi_rate


def _interacts(m: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    a = np.zeros((m, m), dtype=bool)
    for i, j in pairs:
        a[i, j] = a[j, i] = True
    return a


def test_rate_counts_unordered_pairs() -> None:
    a = _interacts(4, [(0, 1)])
    assert known_ddi_rate([0, 1, 2], a) == pytest.approx(1 / 3)
    assert known_ddi_rate([2], a) == 0.0


def test_drops_the_least_probable_interacting_medication() -> None:
    a = _interacts(5, [(0, 1), (1, 2)])
    probs = np.array([0.9, 0.6, 0.8, 0.1, 0.95])
    kept, dropped = limit_ddi_rate([0, 1, 2, 3, 4], probs, a, 0.0)
    # 3 has the lowest probability but interacts with nothing, so it stays; 1 goes.
    assert kept == [0, 2, 3, 4]
    assert [d.index for d in dropped] == [1]
    assert dropped[0].partners == (0, 2)
    assert dropped[0].rate_before == pytest.approx(2 / 10)
    assert dropped[0].rate_after == 0.0


@pytest.mark.parametrize("target", [0.0, 0.05, 0.1, 0.2, 0.5])
def test_random_sets_meet_the_target_and_stay_subsets(target: float) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = 30
        upper = np.triu(rng.random((m, m)) < 0.15, 1)
        a = upper | upper.T
        probs = rng.random(m)
        selected = list(np.flatnonzero(probs > 0.4))
        kept, dropped = limit_ddi_rate(selected, probs, a, target)
        assert known_ddi_rate(kept, a) <= target + 1e-12
        assert set(kept) <= set(selected)
        assert len(kept) + len(dropped) == len(selected)
        if known_ddi_rate(selected, a) <= target:
            assert not dropped


def test_rejects_a_target_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match="max_ddi_rate"):
        limit_ddi_rate([0, 1], np.array([0.5, 0.5]), _interacts(2, [(0, 1)]), 1.5)


def _random_case(rng: np.random.Generator, m: int = 25) -> tuple[list[int], np.ndarray, np.ndarray]:
    upper = np.triu(rng.random((m, m)) < rng.uniform(0.05, 0.4), 1)
    probs = rng.random(m).round(1)  # ties in probability exercise the tie-breaks
    selected = [int(i) for i in rng.permutation(m)[: rng.integers(0, m)]]
    return selected, probs, upper | upper.T


def test_a_targets_drops_are_a_prefix_of_the_whole_drop_order() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        selected, probs, a = _random_case(rng)
        order = drop_order(selected, probs, a)
        if order:
            assert order[0].rate_before == known_ddi_rate(selected, a)
            assert order[-1].rate_after == 0.0
        for target in [0.0, *rng.random(6) * 0.5, 1.0]:
            kept, dropped = limit_ddi_rate(selected, probs, a, float(target))
            count = drops_within(order, float(target))
            assert dropped == order[:count]  # same columns, partners and rates, exactly
            assert kept == [i for i in selected if i not in {d.index for d in order[:count]}]


def test_a_lower_target_continues_the_drops_of_a_higher_one() -> None:
    rng = np.random.default_rng(2)
    for _ in range(100):
        selected, probs, a = _random_case(rng)
        low, high = sorted(float(t) for t in rng.random(2) * 0.4)
        _, dropped_low = limit_ddi_rate(selected, probs, a, low)
        _, dropped_high = limit_ddi_rate(selected, probs, a, high)
        assert dropped_low[: len(dropped_high)] == dropped_high


def test_drops_within_stops_at_the_first_rate_at_or_below_the_target() -> None:
    a = _interacts(4, [(0, 1), (1, 2), (2, 3)])
    order = drop_order([0, 1, 2, 3], np.array([0.9, 0.2, 0.3, 0.8]), a)
    assert [d.index for d in order] == [1, 2]  # rates 1/2 -> 1/3 -> 0
    assert [drops_within(order, t) for t in (0.5, 0.4, 1 / 3, 0.1, 0.0)] == [0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="max_ddi_rate"):
        drops_within(order, -0.1)
    with pytest.raises(ValueError, match="stop above"):
        drops_within(order[:1], 0.0)
