"""Predicted interaction risk of ATC3 drug pairs, served from a ``genn`` artifact (no torch).

``predicted_risk`` of a pair is the probability that at least one interaction type occurs,
treating the per-type probabilities as independent: ``1 − Π_t (1 − p_t)``.

Order does not matter: the exported graph orders each pair as (lower, higher) drug-vocabulary
index before decoding, as in training, so ``(a, b)`` and ``(b, a)`` give identical results.

A pair whose drug is missing from the model's vocabulary gets status ``unknown_drug`` with the
side(s) at fault (``"a"``, ``"b"``); a pair of one drug with itself gets ``same_drug``. Neither
fails the request.

:func:`build_pair_risk` adapts :class:`GennPairRisk` to the service's ``PairRiskPredictor``
contract (``app.inference.pairs``), which the model registry calls on activation.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from app.contract.artifact import sha256_file
from app.contract.manifest import Manifest

logger = logging.getLogger(__name__)

PairStatus = Literal["ok", "unknown_drug", "same_drug"]


class PairRiskArtifactError(ValueError):
    """A genn artifact is missing, corrupt or of the wrong model."""


@dataclass(frozen=True)
class TypeProbability:
    """One interaction type and its predicted probability."""

    name: str
    probability: float


@dataclass(frozen=True)
class PairRiskResult:
    """The prediction for one requested pair (drugs echoed in request order).

    ``predicted_risk`` and ``top_types`` are set only when ``status == "ok"``; ``unknown`` names
    the unknown side(s) when ``status == "unknown_drug"``.
    """

    drug_a: str
    drug_b: str
    status: PairStatus
    predicted_risk: float | None = None
    top_types: tuple[TypeProbability, ...] = ()
    unknown: tuple[Literal["a", "b"], ...] = ()


class GennPairRisk:
    """Pair-risk scorer over one exported ``genn`` artifact.

    Args:
        artifact_dir: folder holding ``model.onnx`` and ``manifest.json``.
        top_k: how many types to return per pair, most probable first.
        session_options: optional onnxruntime options (threads, ...).

    Raises:
        PairRiskArtifactError: missing files, a sha256 mismatch, or a manifest for another model.
    """

    def __init__(
        self,
        artifact_dir: Path,
        *,
        top_k: int = 3,
        session_options: ort.SessionOptions | None = None,
    ) -> None:
        artifact_dir = Path(artifact_dir)
        onnx_path, manifest_path = artifact_dir / "model.onnx", artifact_dir / "manifest.json"
        for path in (onnx_path, manifest_path):
            if not path.is_file():
                raise PairRiskArtifactError(f"{path}: missing")
        manifest = Manifest.model_validate_json(manifest_path.read_text())
        if sha256_file(onnx_path) != manifest.onnx_sha256:
            raise PairRiskArtifactError(f"{onnx_path}: sha256 does not match the manifest")
        session = ort.InferenceSession(
            str(onnx_path), sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        self._setup(manifest, session, top_k)

    @classmethod
    def from_session(
        cls, manifest: Manifest, session: ort.InferenceSession, *, top_k: int = 3
    ) -> GennPairRisk:
        """Wrap a session the caller already built from a verified artifact (the registry)."""
        self = cls.__new__(cls)
        self._setup(manifest, session, top_k)
        return self

    def _setup(self, manifest: Manifest, session: ort.InferenceSession, top_k: int) -> None:
        if manifest.name != "genn":
            raise PairRiskArtifactError(f"manifest is for model {manifest.name!r}, not genn")
        pairs_in = manifest.input_for("pairs")
        if pairs_in is None or len(manifest.outputs) != 1:
            raise PairRiskArtifactError("manifest: expected one 'pairs' input and one output")
        self.manifest = manifest
        self._input, self._output = pairs_in.name, manifest.outputs[0].name
        self.drugs: tuple[str, ...] = tuple(manifest.vocab["drug"])
        self.types: tuple[str, ...] = tuple(manifest.vocab["types"])
        self._index = {d: i for i, d in enumerate(self.drugs)}
        self.top_k = top_k
        self._session = session

    @property
    def name(self) -> str:
        """The model name (``genn``)."""
        return self.manifest.name

    @property
    def version(self) -> int:
        """The model version from the manifest."""
        return self.manifest.version

    def type_probabilities(self, index_pairs: np.ndarray) -> np.ndarray:
        """Run the model on ``[P, 2]`` int64 vocabulary indices; return ``[P, T]`` float32."""
        out = self._session.run([self._output], {self._input: index_pairs.astype(np.int64)})
        return np.asarray(out[0], dtype=np.float32)

    def predict(self, pairs: Sequence[tuple[str, str]]) -> list[PairRiskResult]:
        """Score ATC3 pairs; unknown or identical drugs get a per-pair status, not an error."""
        results: list[PairRiskResult | None] = [None] * len(pairs)
        rows: list[int] = []
        index_pairs: list[tuple[int, int]] = []
        for i, (a, b) in enumerate(pairs):
            ia, ib = self._index.get(a), self._index.get(b)
            if ia is None or ib is None:
                sides: list[Literal["a", "b"]] = []
                if ia is None:
                    sides.append("a")
                if ib is None:
                    sides.append("b")
                results[i] = PairRiskResult(a, b, "unknown_drug", unknown=tuple(sides))
            elif ia == ib:
                results[i] = PairRiskResult(a, b, "same_drug")
            else:
                rows.append(i)
                index_pairs.append((ia, ib))
        if rows:
            probs = self.type_probabilities(np.array(index_pairs, dtype=np.int64))  # [P, T]
            risk = 1.0 - np.prod(1.0 - probs.astype(np.float64), axis=1)  # [P]
            top = np.argsort(-probs, axis=1, kind="stable")[:, : self.top_k]  # [P, k]
            for row, i in enumerate(rows):
                a, b = pairs[i]
                top_types = tuple(
                    TypeProbability(self.types[t], float(probs[row, t])) for t in top[row]
                )
                results[i] = PairRiskResult(a, b, "ok", float(risk[row]), top_types)
        return [r for r in results if r is not None]


def build_pair_risk(manifest: Manifest, session: ort.InferenceSession) -> Any:
    """Return the service's ``PairRiskPredictor`` (``app.inference.pairs``) over a genn model.

    The registry calls this after verifying the artifact; results are converted to the
    service's ``PairRisk`` / ``UnknownDrug`` dataclasses, one per input pair, in order.
    """
    contract = importlib.import_module("app.inference.pairs")  # the service's; imported on use

    scorer = GennPairRisk.from_session(manifest, session)

    class _Predictor:
        def predict(self, pairs: list[tuple[str, str]]) -> list[Any]:
            out: list[Any] = []
            for r in scorer.predict(pairs):
                if r.status == "ok" and r.predicted_risk is not None:
                    top = tuple(contract.TypeScore(t.name, t.probability) for t in r.top_types)
                    out.append(contract.PairRisk(r.drug_a, r.drug_b, r.predicted_risk, top))
                elif r.status == "unknown_drug":
                    side = {"a": r.drug_a, "b": r.drug_b}
                    drugs = tuple(side[s] for s in r.unknown)
                    out.append(contract.UnknownDrug(r.drug_a, r.drug_b, drugs))
                else:
                    out.append(contract.UnknownDrug(r.drug_a, r.drug_b, (), reason="same_drug"))
            return out

    return _Predictor()
