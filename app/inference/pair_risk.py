"""Predicted interaction risk of ATC3 drug pairs, served from a ``genn`` artifact (no torch).

``predicted_risk`` of a pair is the probability that at least one interaction type occurs,
treating the per-type probabilities as independent: ``1 − Π_t (1 − p_t)``.

Order does not matter: the exported graph orders each pair as (lower, higher) drug-vocabulary
index before decoding, as in training, so ``(a, b)`` and ``(b, a)`` give identical results.

A pair whose drug is missing from the model's vocabulary is answered with :class:`UnknownDrug`
naming the drug(s) at fault; a pair of one drug with itself gets reason ``same_drug``. Neither
fails the request. The registry builds a :class:`GennPairRisk` from a verified session when a
``genn`` artifact is activated; while none is active, the predicted fields of every pair are null.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnxruntime as ort

from app.contract.manifest import Manifest
from app.errors import ArtifactError


@dataclass(frozen=True)
class TypeScore:
    """One interaction type and its predicted probability."""

    type: str
    probability: float


@dataclass(frozen=True)
class PairRisk:
    """The predicted risk of an ATC3 pair (drugs in request order) and its most likely types."""

    atc3_a: str
    atc3_b: str
    risk: float
    top_types: tuple[TypeScore, ...] = ()


@dataclass(frozen=True)
class UnknownDrug:
    """A pair the predictor cannot score: ``drugs`` are outside its vocabulary."""

    atc3_a: str
    atc3_b: str
    drugs: tuple[str, ...]
    reason: str = "not_in_model_vocabulary"


class PairRiskPredictor(Protocol):
    """Scores drug pairs; one answer per input pair, in order."""

    def predict(self, pairs: Sequence[tuple[str, str]]) -> list[PairRisk | UnknownDrug]:
        """Return the risk of each ``(atc3_a, atc3_b)`` pair, or why it cannot be scored."""
        ...


PairRiskFactory = Callable[[Manifest, ort.InferenceSession], PairRiskPredictor]


class GennPairRisk:
    """Pair-risk scorer over one verified ``genn`` session.

    Args:
        manifest: the artifact's manifest (``vocab["drug"]``, ``vocab["types"]``).
        session: the onnxruntime session the registry opened and verified.
        top_k: how many types to return per pair, most probable first.

    Raises:
        ArtifactError: a manifest for another model, or without one ``pairs`` input and one
            output, or without the ``drug`` and ``types`` vocabularies.
    """

    def __init__(self, manifest: Manifest, session: ort.InferenceSession, top_k: int = 3) -> None:
        if manifest.name != "genn":
            raise ArtifactError(f"manifest is for model {manifest.name!r}, not genn")
        pairs_in = manifest.input_for("pairs")
        if pairs_in is None or len(manifest.outputs) != 1:
            raise ArtifactError("manifest: expected one 'pairs' input and one output")
        if not {"drug", "types"} <= manifest.vocab.keys():
            raise ArtifactError("manifest: a genn vocabulary needs 'drug' and 'types'")
        self.manifest = manifest
        self._input, self._output = pairs_in.name, manifest.outputs[0].name
        self.drugs: tuple[str, ...] = tuple(manifest.vocab["drug"])
        self.types: tuple[str, ...] = tuple(manifest.vocab["types"])
        self._index = {d: i for i, d in enumerate(self.drugs)}
        self.top_k = top_k
        self._session = session

    def type_probabilities(self, index_pairs: np.ndarray) -> np.ndarray:
        """Run the model on ``[P, 2]`` int64 vocabulary indices; return ``[P, T]`` float32."""
        out = self._session.run([self._output], {self._input: index_pairs.astype(np.int64)})
        return np.asarray(out[0], dtype=np.float32)

    def predict(self, pairs: Sequence[tuple[str, str]]) -> list[PairRisk | UnknownDrug]:
        """Score ATC3 pairs; unknown or identical drugs get a per-pair answer, not an error."""
        results: list[PairRisk | UnknownDrug | None] = [None] * len(pairs)
        rows: list[int] = []
        index_pairs: list[tuple[int, int]] = []
        for i, (a, b) in enumerate(pairs):
            ia, ib = self._index.get(a), self._index.get(b)
            if ia is None or ib is None:
                unknown = tuple(d for d, j in ((a, ia), (b, ib)) if j is None)
                results[i] = UnknownDrug(a, b, unknown)
            elif ia == ib:
                results[i] = UnknownDrug(a, b, (), reason="same_drug")
            else:
                rows.append(i)
                index_pairs.append((ia, ib))
        if rows:
            probs = self.type_probabilities(np.array(index_pairs, dtype=np.int64))  # [P, T]
            risk = 1.0 - np.prod(1.0 - probs.astype(np.float64), axis=1)  # [P]
            top = np.argsort(-probs, axis=1, kind="stable")[:, : self.top_k]  # [P, k]
            for row, i in enumerate(rows):
                a, b = pairs[i]
                types = tuple(TypeScore(self.types[t], float(probs[row, t])) for t in top[row])
                results[i] = PairRisk(a, b, float(risk[row]), types)
        return [r for r in results if r is not None]
