"""The logistic-regression baseline as an ensemble member: dense weights, numpy and ONNX alike.

:func:`training.baselines.fit_logistic` fits one model per medication; here its coefficients
become one ``[D + P, M]`` weight matrix and an ``[M]`` bias, so the member's probabilities are
``sigmoid(x @ weight + bias)`` for the visit's multi-hot diagnoses then procedures ``x``, the
same formula the ONNX graph evaluates. A medication with a constant training share (given in no
training visit, or in every one) has zero weights and the logit of that share (clipped) as bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.baselines import fit_logistic, per_patient, visit_features
from training.data.records import Patient
from training.data.vocab import Vocabularies
from training.ensemble.calibration import logit, sigmoid


@dataclass(frozen=True)
class LogisticMember:
    """A fitted one-vs-rest logistic regression over the shared vocabularies.

    Attributes:
        vocabs: the vocabularies (diagnoses, then procedures, index the weight rows).
        weight: ``[D + P, M]`` coefficients.
        bias: ``[M]`` intercepts.
        name: the member's label.
    """

    vocabs: Vocabularies
    weight: np.ndarray
    bias: np.ndarray
    name: str = "lr"

    @property
    def med_vocab(self) -> tuple[str, ...]:
        """The ATC3 class of each output column."""
        return self.vocabs.med.tokens

    def predict(self, patients: Sequence[Patient]) -> list[np.ndarray]:
        """Return one ``[V_p, M]`` probability matrix per patient, one row per visit."""
        if not patients:
            return []
        logits = visit_features(patients, self.vocabs) @ self.weight + self.bias
        return per_patient(sigmoid(np.asarray(logits)), patients)

    def save(self, path: Path) -> None:
        """Write the weights to ``path`` (``.npz``, no pickled objects)."""
        np.savez(path, weight=self.weight, bias=self.bias)

    @classmethod
    def load(cls, path: Path, vocabs: Vocabularies, name: str = "lr") -> LogisticMember:
        """Read :meth:`save`'s file.

        Raises:
            ValueError: if the arrays do not fit ``vocabs``.
        """
        with np.load(path, allow_pickle=False) as data:
            weight, bias = data["weight"], data["bias"]
        rows, m = len(vocabs.diag) + len(vocabs.proc), len(vocabs.med)
        if weight.shape != (rows, m) or bias.shape != (m,):
            raise ValueError(f"{path}: weights of shape {weight.shape} do not fit the vocabularies")
        return cls(vocabs, weight, bias, name)


def fit_lr_member(
    train: Sequence[Patient], vocabs: Vocabularies, *, seed: int = 0
) -> LogisticMember:
    """Fit :func:`training.baselines.fit_logistic` on ``train`` and densify it."""
    model = fit_logistic(train, vocabs, seed=seed)
    rows = len(vocabs.diag) + len(vocabs.proc)
    weight = np.zeros((rows, len(vocabs.med)))
    bias = logit(model.prior.astype(np.float64))
    for med, fitted in model.models.items():
        weight[:, med] = fitted.coef_[0]
        bias[med] = fitted.intercept_[0]
    return LogisticMember(vocabs, weight, bias)
