from __future__ import annotations

import numpy as np
import pytest

from training.ensemble.calibration import Platt, fit_platt, logit, sigmoid


def _draws(scale: float, shift: float, n: int = 40_000) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``p`` whose true probability is ``sigmoid(scale * logit(p) + shift)``."""
    rng = np.random.default_rng(0)
    p = sigmoid(rng.normal(0, 2, n))
    truth = rng.random(n) < sigmoid(scale * logit(p) + shift)
    return p, truth


def test_platt_recovers_a_known_miscalibration() -> None:
    p, truth = _draws(scale=0.5, shift=-1.0)
    fitted = fit_platt(p, truth)
    assert fitted.scale == pytest.approx(0.5, abs=0.05)
    assert fitted.shift == pytest.approx(-1.0, abs=0.05)


def test_calibrated_scores_stay_close_to_the_identity() -> None:
    p, truth = _draws(scale=1.0, shift=0.0)
    fitted = fit_platt(p, truth)
    assert fitted.scale == pytest.approx(1.0, abs=0.05)
    assert fitted.shift == pytest.approx(0.0, abs=0.05)


def test_calibration_lowers_the_cross_entropy_and_keeps_the_ranking() -> None:
    p, truth = _draws(scale=2.0, shift=0.7)

    def bce(q: np.ndarray) -> float:
        return float(-np.mean(truth * np.log(q) + (~truth) * np.log1p(-q)))

    fitted = fit_platt(p, truth)
    assert bce(fitted.apply(p)) < bce(p) - 0.01
    assert np.array_equal(np.argsort(fitted.apply(p)), np.argsort(p))


def test_hard_zeros_and_ones_stay_finite() -> None:
    out = Platt(1.5, 0.2).apply(np.array([0.0, 1.0, 0.5]))
    assert np.all(np.isfinite(out)) and np.all((out > 0) & (out < 1))


def test_one_class_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="one class"):
        fit_platt(np.array([0.2, 0.3]), np.array([False, False]))
