"""What every recommender and baseline offers the evaluation: probabilities for each visit.

A :class:`Predictor` scores *every* visit of a patient, the first one included: row ``t`` of
``predict([patient])[0]`` is the probability of each medication at visit ``t``, computed from the
codes of visits ``0..t`` and the medications of visits ``0..t-1`` only (a first visit has a zero
past). Columns follow ``med_vocab``, a list of ATC3 classes; the evaluation aligns every
predictor's columns to one vocabulary, so two models with different vocabularies are scored on
the same ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from training.data.records import Patient


class Predictor(Protocol):
    """A fitted recommender or baseline, ready to score patients."""

    @property
    def name(self) -> str:
        """A short label for tables and plots (e.g. ``gamenet``, ``gbert-dha-mor``, ``lr``)."""
        ...

    @property
    def med_vocab(self) -> Sequence[str]:
        """The ATC3 class of each output column."""
        ...

    def predict(self, patients: Sequence[Patient]) -> list[np.ndarray]:
        """Return one float ``[V_p, M]`` probability matrix per patient, one row per visit."""
        ...
