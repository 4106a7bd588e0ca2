"""Platt scaling of each member's probabilities, fitted on validation.

A member's probability ``p`` becomes ``sigmoid(scale * logit(p) + shift)``: one scale and one
shift per member, shared by every medication, fitted by Newton's method on the binary
cross-entropy over all validation (visit, medication) cells. Why Platt and not temperature
scaling alone: members are differently biased, not only differently sharp (a logistic regression
with the reference's C is under-confident on frequent meds, GAMENet trained with the DDI loss
shifts scores down), and temperature (the scale, with no shift) cannot move a bias. Two
parameters per member over ~10^5 cells cannot overfit, and the map is monotone, so each member's
ranking (its PR-AUC) is unchanged; only the scales the mix adds up become comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Probabilities are clipped to [EPS, 1 - EPS] before the logit, so a member's hard 0 or 1 stays
# finite; the ONNX graph clips the same way.
EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of ``p`` clipped to ``[EPS, 1 - EPS]``."""
    q = np.clip(p, EPS, 1 - EPS)
    result: np.ndarray = np.log(q) - np.log1p(-q)
    return result


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


@dataclass(frozen=True)
class Platt:
    """``p -> sigmoid(scale * logit(p) + shift)``; the identity is ``Platt(1.0, 0.0)``."""

    scale: float = 1.0
    shift: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of ``p`` (any shape)."""
        return sigmoid(self.scale * logit(p) + self.shift)


def fit_platt(prob: np.ndarray, target: np.ndarray, *, steps: int = 50) -> Platt:
    """Fit a :class:`Platt` map minimising the binary cross-entropy of ``prob`` to ``target``.

    Args:
        prob: ``[N, M]`` (or any shape) member probabilities on validation.
        target: bool, the same shape: whether each medication was given.
        steps: Newton steps at most (it converges in well under ten on real scores).

    Raises:
        ValueError: for mismatched shapes, no cells, or a target of one class only.
    """
    z, y = logit(np.asarray(prob, dtype=np.float64)).ravel(), np.asarray(target).ravel()
    if z.shape != y.shape or z.size == 0:
        raise ValueError("fit_platt: prob and target need the same, non-empty shape")
    y = y.astype(np.float64)
    if y.min() == y.max():
        raise ValueError("fit_platt: the targets hold one class only")
    x = np.stack([z, np.ones_like(z)], axis=1)  # [N, 2]
    theta = np.array([1.0, 0.0])
    for _ in range(steps):
        q = sigmoid(x @ theta)
        grad = x.T @ (q - y) / y.size
        hess = (x * (q * (1 - q))[:, None]).T @ x / y.size + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.abs(step).max() < 1e-10:
            break
    return Platt(float(theta[0]), float(theta[1]))
