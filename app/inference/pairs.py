"""The pair-risk contract: what a drug-pair interaction predictor (GENN) gives the service.

The ``genn`` engineer implements it in ``app/inference/pair_risk.py`` as
``build_pair_risk(manifest, session) -> PairRiskPredictor``; the registry looks that function up
when a ``genn`` artifact is activated. While no pair-risk model is active, the ``predicted_risk``,
``top_types`` and ``model`` fields of every pair are null.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

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
    """The predicted risk of an ATC3 pair (``atc3_a < atc3_b``) and its most likely types."""

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

    def predict(self, pairs: list[tuple[str, str]]) -> list[PairRisk | UnknownDrug]:
        """Return the risk of each ``(atc3_a, atc3_b)`` pair, or why it cannot be scored."""
        ...


PairRiskFactory = Callable[[Manifest, ort.InferenceSession], PairRiskPredictor]


def load_pair_risk_factory() -> PairRiskFactory:
    """Return ``app.inference.pair_risk.build_pair_risk``, the genn engineer's implementation.

    Raises:
        ArtifactError: when that module is not part of this build.
    """
    try:
        module = importlib.import_module("app.inference.pair_risk")
    except ModuleNotFoundError:
        raise ArtifactError(
            "this build has no pair-risk support (app.inference.pair_risk)"
        ) from None
    return cast(PairRiskFactory, module.build_pair_risk)
