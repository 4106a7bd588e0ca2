"""The non-neural baselines as :class:`~training.evaluate.predictor.Predictor`s.

Each is fitted on the training patients of the evaluation's split (vocabularies included, as a
model's are) and then scores any patients, every visit included: ``lr`` (one-vs-rest logistic
regression on the visit's diagnoses and procedures), ``frequency`` (the most prescribed training
meds) and ``nearest`` (the previous visit's meds; a first visit gets ``frequency``'s). The scoring
functions are those of :mod:`training.baselines`, so the rows match the training reports'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from training.baselines import (
    fit_logistic,
    frequency_baseline,
    nearest_baseline,
    per_patient,
    visit_features,
)
from training.data.records import Patient
from training.data.vocab import Vocabularies
from training.evaluate.predictor import Predictor

BASELINES = ("lr", "frequency", "nearest")


@dataclass(frozen=True)
class BaselinePredictor:
    """A fitted baseline: a name, its medication columns and a scoring function."""

    name: str
    med_vocab: tuple[str, ...]
    score: Callable[[Sequence[Patient]], list[np.ndarray]]

    def predict(self, patients: Sequence[Patient]) -> list[np.ndarray]:
        """Return one ``[V_p, M]`` probability matrix per patient, one row per visit."""
        return self.score(patients)


def fit_baseline(name: str, train: Sequence[Patient], *, seed: int = 0) -> Predictor:
    """Fit the baseline ``name`` (one of :data:`BASELINES`) on the training patients ``train``.

    Raises:
        ValueError: for an unknown name, or a training split without visits.
    """
    vocabs = Vocabularies.fit(train)
    if not any(p.visits for p in train):
        raise ValueError("baselines: the training split has no visits")
    if name == "lr":
        model = fit_logistic(train, vocabs, seed=seed)

        def score(patients: Sequence[Patient]) -> list[np.ndarray]:
            return per_patient(model.predict_proba(visit_features(patients, vocabs)), patients)

    elif name == "frequency":

        def score(patients: Sequence[Patient]) -> list[np.ndarray]:
            return frequency_baseline(train, patients, vocabs)

    elif name == "nearest":

        def score(patients: Sequence[Patient]) -> list[np.ndarray]:
            return nearest_baseline(train, patients, vocabs)

    else:
        raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return BaselinePredictor(name, vocabs.med.tokens, score)
