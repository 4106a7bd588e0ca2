from __future__ import annotations

import numpy as np
import pytest

from training.ensemble.mixing import (
    THRESHOLDS,
    choose_mix,
    jaccard_by_threshold,
    mix,
    simplex_grid,
)


def test_simplex_grid_points_are_convex_weights() -> None:
    for members, size in ((1, 1), (2, 11), (3, 66)):
        grid = simplex_grid(members, 0.1)
        assert grid.shape == (size, members)
        assert np.allclose(grid.sum(1), 1.0) and grid.min() >= 0
        assert len({tuple(row) for row in grid.round(6)}) == size
    with pytest.raises(ValueError, match="divides 1"):
        simplex_grid(2, 0.3)


def test_jaccard_by_threshold_matches_a_direct_count() -> None:
    rng = np.random.default_rng(1)
    target = rng.random((50, 12)) < 0.3
    prob = rng.random((50, 12))
    thresholds = np.array([0.1, 0.35, 0.5, 0.9])
    got = jaccard_by_threshold(target, prob, thresholds)
    for t, value in zip(thresholds, got, strict=True):
        pred = prob >= t
        inter, union = (pred & target).sum(1), (pred | target).sum(1)
        expected = np.where(union > 0, inter / np.maximum(union, 1), 0.0).mean()
        assert value == pytest.approx(expected)
    weight = rng.random(50)
    [weighted] = jaccard_by_threshold(target, prob, np.array([0.5]), weight)
    pred = prob >= 0.5
    visit = (pred & target).sum(1) / np.maximum((pred | target).sum(1), 1)
    assert weighted == pytest.approx(float(visit @ weight / weight.sum()))


def test_mix_takes_one_weight_vector_or_one_per_visit() -> None:
    calibrated = np.stack([np.full((3, 2), 0.2), np.full((3, 2), 0.6)])  # [K=2, N=3, M=2]
    assert np.allclose(mix(calibrated, np.array([0.5, 0.5])), 0.4)
    per_visit = mix(calibrated, np.array([[1.0, 0.0], [0.0, 1.0], [0.25, 0.75]]))
    assert np.allclose(per_visit[:, 0], [0.2, 0.6, 0.5])


def _two_experts(n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Member 0 knows the truth in bucket 0 and guesses in bucket 1; member 1 the reverse."""
    rng = np.random.default_rng(0)
    target = rng.random((n, 10)) < 0.3
    buckets = np.repeat([0, 1], n // 2)
    sharp = np.where(target, 0.9, 0.1)
    noise = rng.random((n, 10))
    first = np.where((buckets == 0)[:, None], sharp, noise)
    second = np.where((buckets == 1)[:, None], sharp, noise)
    return np.stack([first, second]), target, buckets


def test_each_bucket_gets_the_member_that_is_right_there() -> None:
    calibrated, target, buckets = _two_experts()
    choice = choose_mix(calibrated, target, buckets, num_buckets=3, min_support=50)
    assert choice.bucket_weights[0, 0] > 0.5 and choice.bucket_weights[1, 1] > 0.5
    assert choice.fitted_buckets.tolist() == [True, True, False]
    assert np.allclose(choice.bucket_weights[2], choice.global_weights)  # no support: global
    assert choice.bucket_support.tolist() == [200, 200, 0]
    per_pattern = jaccard_by_threshold(
        target, mix(calibrated, choice.bucket_weights[buckets]), THRESHOLDS
    ).max()
    best_global = jaccard_by_threshold(
        target, mix(calibrated, choice.global_weights), np.array([choice.global_threshold])
    )[0]
    assert per_pattern > best_global + 0.05


def test_thin_buckets_keep_the_global_weights() -> None:
    calibrated, target, buckets = _two_experts()
    choice = choose_mix(calibrated, target, buckets, num_buckets=2, min_support=201)
    assert not choice.fitted_buckets.any()
    assert np.allclose(choice.bucket_weights, choice.global_weights)
