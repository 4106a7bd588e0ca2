"""The ensemble's numpy definition, and the ensemble as a :class:`Predictor`.

For a visit ``n`` in pattern bucket ``b(n)`` (:mod:`training.ensemble.patterns`), with member
probabilities ``p_k`` and their Platt maps ``c_k`` (:mod:`training.ensemble.calibration`):

    p(n) = sum_k  W[b(n), k] * c_k(p_k(n))

where each row of ``W`` lies on the simplex. The exported ONNX graph computes the same
(:mod:`training.ensemble.export`); the parity tests hold the two within 1e-5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.baselines import per_patient
from training.batching import encode_patients
from training.data.records import Patient
from training.data.vocab import Vocabularies
from training.ensemble.calibration import Platt
from training.ensemble.mixing import mix
from training.ensemble.patterns import NUM_BUCKETS, visit_buckets
from training.evaluate.predictor import Predictor


@dataclass(frozen=True)
class EnsembleSpec:
    """Everything the mix needs once the members are fitted.

    Attributes:
        members: the member names, in weight-column order.
        calibration: one Platt map per member.
        code_median: the training median of known codes per visit (the ``codes`` bucket edge).
        weights: ``[NUM_BUCKETS, K]`` mixing weights per bucket.
        threshold: the decision threshold chosen on validation.
    """

    members: tuple[str, ...]
    calibration: tuple[Platt, ...]
    code_median: float
    weights: np.ndarray
    threshold: float

    def __post_init__(self) -> None:
        k = len(self.members)
        if k < 1 or len(self.calibration) != k or self.weights.shape != (NUM_BUCKETS, k):
            raise ValueError("EnsembleSpec: one calibration and one weight column per member")

    def combine(self, member_probs: Sequence[np.ndarray], buckets: np.ndarray) -> np.ndarray:
        """Return ``[N, M]`` ensemble probabilities from the members' ``[N, M]`` and the buckets."""
        calibrated = np.stack(
            [c.apply(p) for c, p in zip(self.calibration, member_probs, strict=True)]
        )
        return mix(calibrated, self.weights[buckets])

    def to_json(self) -> dict[str, Any]:
        """The ``ensemble.json`` form."""
        return {
            "members": list(self.members),
            "calibration": [{"scale": c.scale, "shift": c.shift} for c in self.calibration],
            "code_median": self.code_median,
            "weights": self.weights.tolist(),
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EnsembleSpec:
        """Build from :meth:`to_json`'s form."""
        return cls(
            members=tuple(obj["members"]),
            calibration=tuple(
                Platt(float(c["scale"]), float(c["shift"])) for c in obj["calibration"]
            ),
            code_median=float(obj["code_median"]),
            weights=np.asarray(obj["weights"], dtype=np.float64),
            threshold=float(obj["threshold"]),
        )


@dataclass(frozen=True)
class EnsemblePredictor:
    """The fitted ensemble over its member predictors, scoring every visit.

    Args:
        spec: the fitted mix.
        members: the member predictors, in ``spec.members`` order, on ``vocabs.med`` columns.
        vocabs: the vocabularies shared by the members (the buckets count known codes).
        name: the label for tables.
    """

    spec: EnsembleSpec
    members: tuple[Predictor, ...]
    vocabs: Vocabularies
    name: str = "ensemble"

    @property
    def med_vocab(self) -> tuple[str, ...]:
        """The ATC3 class of each output column."""
        return self.vocabs.med.tokens

    def predict(self, patients: Sequence[Patient]) -> list[np.ndarray]:
        """Return one ``[V_p, M]`` probability matrix per patient, one row per visit."""
        if not patients:
            return []
        encoded, _ = encode_patients(patients, self.vocabs)
        buckets = np.concatenate(visit_buckets(encoded, self.spec.code_median))
        flat = [np.concatenate(m.predict(patients), axis=0) for m in self.members]
        return per_patient(self.spec.combine(flat, buckets), patients)
