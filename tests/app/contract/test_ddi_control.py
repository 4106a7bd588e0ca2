"""The DDI-controlled decision rule: rate at or below the target, a subset, least mass first."""

from __future__ import annotations

import numpy as np
import pytest

from app.contract.ddi_control import known_ddi_rate, limit_ddi_rate


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
