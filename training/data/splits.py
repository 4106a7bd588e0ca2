"""Patient-level train/validation/test splits, recorded in every manifest.

Two methods:

* ``literature``: the split of the GAMENet/SafeDrug code. Patients stay in file order; the first
  ``int(n * 2 / 3)`` are train, the next half of the rest is *test* and the remainder is
  *validation* (GAMENet ``train_GAMENet.py``: ``split_point``, ``eval_len``). Not shuffled.
* ``random``: a seeded shuffle by patient with a local ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from training.data.records import Patient

LITERATURE_RATIOS = (2 / 3, 1 / 6, 1 / 6)


@dataclass(frozen=True)
class SplitConfig:
    """How to split patients.

    Args:
        method: ``literature`` (file order, GAMENet) or ``random`` (seeded shuffle).
        seed: seed of the shuffle (``random`` only).
        ratios: train, validation and test fractions (``random`` only); must sum to 1.
    """

    method: Literal["literature", "random"] = "random"
    seed: int = 0
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def __post_init__(self) -> None:
        if self.method not in ("literature", "random"):
            raise ValueError(f"SplitConfig: unknown method {self.method!r}")
        if len(self.ratios) != 3 or any(r < 0 for r in self.ratios):
            raise ValueError("SplitConfig: ratios must be three non-negative fractions")
        # math.isclose, not ==: 0.7 + 0.2 + 0.1 != 1.0 in floating point.
        if not math.isclose(sum(self.ratios), 1.0, abs_tol=1e-9):
            raise ValueError("SplitConfig: ratios must sum to 1")


@dataclass(frozen=True)
class Split:
    """The three patient lists of a split and the config that made them."""

    train: list[Patient]
    val: list[Patient]
    test: list[Patient]
    config: SplitConfig = SplitConfig()

    def describe(self) -> dict[str, Any]:
        """Return the manifest record: method, seed, ratios, counts and a digest of patient ids."""
        ratios = LITERATURE_RATIOS if self.config.method == "literature" else self.config.ratios
        parts = {"train": self.train, "val": self.val, "test": self.test}
        return {
            "method": self.config.method,
            "seed": self.config.seed if self.config.method == "random" else None,
            "ratios": [round(r, 6) for r in ratios],
            "counts": {k: len(v) for k, v in parts.items()},
            "visits": {k: sum(len(p.visits) for p in v) for k, v in parts.items()},
            "patient_ids_sha256": {k: _ids_digest(v) for k, v in parts.items()},
        }


def split_patients(patients: Sequence[Patient], config: SplitConfig) -> Split:
    """Split ``patients`` by patient as ``config`` says.

    Args:
        patients: all patients, in file order.
        config: the split method, seed and ratios.

    Returns:
        The split; no patient appears in two parts.
    """
    if config.method == "literature":
        return _literature_split(list(patients), config)
    return _random_split(list(patients), config)


def _literature_split(patients: list[Patient], config: SplitConfig) -> Split:
    split_point = int(len(patients) * 2 / 3)
    rest = patients[split_point:]
    eval_len = int(len(rest) / 2)
    return Split(
        train=patients[:split_point], val=rest[eval_len:], test=rest[:eval_len], config=config
    )


def _random_split(patients: list[Patient], config: SplitConfig) -> Split:
    n = len(patients)
    order = np.random.default_rng(config.seed).permutation(n)
    n_train = int(n * config.ratios[0])
    n_val = int(n * config.ratios[1])
    shuffled = [patients[i] for i in order]
    return Split(
        train=shuffled[:n_train],
        val=shuffled[n_train : n_train + n_val],
        test=shuffled[n_train + n_val :],
        config=config,
    )


def _ids_digest(patients: Sequence[Patient]) -> str:
    digest = hashlib.sha256()
    for patient in patients:
        digest.update(patient.patient_id.encode() + b"\n")
    return digest.hexdigest()
