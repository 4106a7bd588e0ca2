"""The run configuration of an ensemble fit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """How to fit the ensemble on the members' validation predictions.

    Args:
        lr: add the logistic-regression baseline (fitted on the members' training split) as a
            member.
        grid_step: spacing of the simplex grid the mixing weights are chosen from.
        min_support: the fewest validation visits a pattern bucket needs for weights of its own
            (a thinner bucket takes the global weights).
        seed: seeds the logistic regression and the bootstrap.
        bootstrap_rounds: rounds of the 80% patient bootstrap behind each reported std.
    """

    lr: bool = True
    grid_step: float = 0.1
    min_support: int = 100
    seed: int = 0
    bootstrap_rounds: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.grid_step <= 0.5:
            raise ValueError("TrainConfig: grid_step must be in (0, 0.5]")
        if self.min_support < 1 or self.bootstrap_rounds < 1:
            raise ValueError("TrainConfig: min_support and bootstrap_rounds must be >= 1")
