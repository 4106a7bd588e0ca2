"""The recommendation answer: model scores, evidence, DDI pairs of the set, unknown codes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.contract.ddi_control import known_ddi_rate, limit_ddi_rate
from app.errors import ModelNotFound, ModelNotLoaded
from app.inference.recommender import Recommendation, Recommender, UnknownCode
from app.inference.registry import LoadedModel, ModelRegistry
from app.schemas.recommendations import (
    DiagnosisIn,
    ModelInfoPublic,
    ProcedureIn,
    RecommendationCreate,
)
from app.services.ddi_snapshot import DdiTableView
from app.services.interactions import assess_pairs
from app.services.medication_codes import prepare_visits, restore_origins
from app.services.vocab_snapshot import VocabView

SYNTHETIC_WARNING = "synthetic model trained on generated data: NOT FOR CLINICAL USE"


@dataclass(frozen=True)
class RecommendationLimits:
    """What the server allows and the request asked for beyond the model inputs.

    Attributes:
        max_medications: the most medications returned (setting
            ``max_recommended_medications``; a request's ``top_k`` can only lower it).
        risk_threshold: list unknown pairs at this predicted risk (``ddi_risk_threshold``).
        all_pairs: list every pair (``?pairs=all``).
    """

    max_medications: int
    risk_threshold: float
    all_pairs: bool = False


# The answer as plain dataclasses and dicts whose field names are the response schema's
# (app.schemas.recommendations.RecommendationPublic): the route serialises them with orjson in
# one C call. Building the pydantic models instead (about 50 a response, evidence included)
# cost more than the model call; the response contract tests validate these answers against
# the schema.
@dataclass(frozen=True)
class DdiSummary:
    """The ``ddi`` block (:class:`app.schemas.recommendations.DdiBlock`)."""

    listed: Literal["relevant", "all"]
    risk_threshold: float
    pairs: list[dict[str, Any]]
    pair_count: int
    known_count: int
    omitted_count: int
    ddi_rate: float | None
    max_risk: float | None
    prediction_note: str | None


@dataclass(frozen=True)
class DroppedMedication:
    """One removal by ``max_ddi_rate`` (``DroppedMedicationPublic`` of the schema)."""

    atc3: str
    probability: float
    partners: list[str]
    rate_before: float
    rate_after: float


@dataclass(frozen=True)
class DdiLimit:
    """The ``ddi_limit`` block (:class:`app.schemas.recommendations.DdiLimitPublic`)."""

    max_ddi_rate: float
    rate_before: float
    rate_after: float
    dropped: list[DroppedMedication]


@dataclass(frozen=True)
class RecommendationAnswer:
    """The answer (:class:`app.schemas.recommendations.RecommendationPublic`)."""

    model: dict[str, Any]
    pair_model: dict[str, Any] | None
    medications: list[dict[str, Any]]  # ScoredMedication's fields and the ATC3 display name
    ddi: DdiSummary
    ddi_limit: DdiLimit | None
    unknown_codes: list[UnknownCode]
    warnings: list[str]


def resolve_model(registry: ModelRegistry, requested: str | None, default: str) -> LoadedModel:
    """Return the active model for ``name`` or ``name@version`` (default: ``default``).

    Raises:
        ModelNotLoaded: the default model is not loaded (the service is not ready).
        ModelNotFound: the requested name is not an active recommender, or the version is not
            the active one.
    """
    if requested is None:
        loaded = registry.get(default)
        version = ""
    else:
        name, _, version = requested.partition("@")
        found = registry.find(name)
        if found is None or found.recommender is None:
            raise ModelNotFound(f"no active recommendation model named {name!r}")
        loaded = found
    if loaded.recommender is None:
        raise ModelNotLoaded(f"model {default!r} is not a recommendation model")
    if version and int(version) != loaded.version:
        raise ModelNotFound(f"{loaded.name} v{int(version)} is not the active version")
    return loaded


def unknown_systems(
    recommender: Recommender, request: RecommendationCreate
) -> list[dict[str, Any]]:
    """Validation errors (pydantic's shape) for code systems the model's manifest does not know.

    A field the model does not use at all (procedures of a diagnosis-only model) is not checked:
    its codes are listed as ``input_not_used_by_model`` instead.
    """
    known = recommender.systems
    errors = []
    for v, visit in enumerate(request.visits):
        fields: tuple[tuple[str, Sequence[DiagnosisIn | ProcedureIn]], ...] = (
            ("diagnoses", visit.diagnoses),
            ("procedures", visit.procedures),
        )
        for fld, codes in fields:
            if not known[fld]:
                continue
            for j, code in enumerate(codes):
                if code.system not in known[fld]:
                    errors.append({
                        "loc": ("body", "visits", v, fld, j, "system"),
                        "msg": f"the active model knows {fld} in: {', '.join(sorted(known[fld]))}",
                        "type": "system_not_in_model_vocabulary",
                    })  # fmt: skip
    return errors


def recommend(
    *,
    view: DdiTableView,
    vocab: VocabView,
    loaded: LoadedModel,
    pair_model: LoadedModel | None,
    request: RecommendationCreate,
    limits: RecommendationLimits,
) -> RecommendationAnswer:
    """Score the request with ``loaded`` and attach the DDI pairs of the recommended set.

    CPU only (no I/O), so the route runs it on the event loop: a thread hop for the route and
    another for FastAPI's check of a sync route's answer cost as much as the model.
    """
    result, limit = score(
        view=view, vocab=vocab, loaded=loaded, request=request,
        max_medications=limits.max_medications,
    )  # fmt: skip
    found = assess_pairs(
        view=view,
        drugs=[m.atc3 for m in result.medications],
        pair_model=pair_model,
        risk_threshold=None if limits.all_pairs else limits.risk_threshold,
    )
    warnings = list(result.warnings)
    if loaded.manifest.synthetic:
        warnings.insert(0, SYNTHETIC_WARNING)
    return RecommendationAnswer(
        model=_model_info(loaded, result),
        pair_model=found.pair_model,
        medications=[
            # orjson writes the evidence dataclasses itself
            {
                "atc3": m.atc3,
                "probability": m.probability,
                "evidence": m.evidence,
                "display": vocab.display(m.atc3),
            }
            for m in result.medications
        ],
        ddi=DdiSummary(
            listed="all" if limits.all_pairs else "relevant",
            risk_threshold=limits.risk_threshold,
            pairs=found.pairs,
            pair_count=found.count,
            known_count=found.known_count,
            omitted_count=found.count - len(found.pairs),
            ddi_rate=found.ddi_rate,
            max_risk=found.max_risk,
            prediction_note=found.prediction_note,
        ),
        ddi_limit=limit,
        unknown_codes=result.unknown_codes,
        warnings=warnings,
    )


def score(
    *,
    view: DdiTableView,
    vocab: VocabView,
    loaded: LoadedModel,
    request: RecommendationCreate,
    max_medications: int,
) -> tuple[Recommendation, DdiLimit | None]:
    """The recommended set of ``request`` as the JSON and FHIR answers both give it.

    At most ``max_medications`` (a request's ``top_k`` can only lower it), the medication codes
    as the caller sent them, and shrunk to the request's ``max_ddi_rate`` when it sets one.
    """
    assert loaded.recommender is not None
    prepared = prepare_visits(request.visits, vocab)
    top_k = min(request.top_k or max_medications, max_medications)
    result = loaded.recommender.recommend(prepared.visits, threshold=request.threshold, top_k=top_k)
    result = restore_origins(result, prepared)
    if request.max_ddi_rate is None:
        return result, None
    return limit_known_ddi(result, view, loaded, request.max_ddi_rate)


def limit_known_ddi(
    result: Recommendation, view: DdiTableView, loaded: LoadedModel, max_rate: float
) -> tuple[Recommendation, DdiLimit]:
    """Shrink the recommended set to a known-DDI rate of at most ``max_rate``.

    The rule is :func:`app.contract.ddi_control.limit_ddi_rate` (the one the training reports
    draw), over the known pairs of ``view`` among the model's medication columns; the kept
    medications keep their order, so the answer is a subset of the unconstrained one.
    """
    assert loaded.recommender is not None
    meds, index = loaded.recommender.meds, loaded.recommender.med_index
    interacts = view.known_matrix(loaded.sha256, meds)
    selected = [index[m.atc3] for m in result.medications]
    probabilities = np.zeros(len(meds))
    probabilities[selected] = [m.probability for m in result.medications]
    kept, dropped = limit_ddi_rate(selected, probabilities, interacts, max_rate)
    keep = set(kept)
    limit = DdiLimit(
        max_ddi_rate=max_rate,
        rate_before=known_ddi_rate(selected, interacts),
        rate_after=known_ddi_rate(kept, interacts),
        dropped=[
            DroppedMedication(
                meds[d.index],
                d.probability,
                [meds[p] for p in d.partners],
                d.rate_before,
                d.rate_after,
            )
            for d in dropped
        ],
    )
    medications = [m for m in result.medications if index[m.atc3] in keep]
    return dataclasses.replace(result, medications=medications), limit


# The model block of each served version, built and validated once (threshold aside, it
# depends only on the version); a few versions are served at a time.
_MODEL_INFO: dict[tuple[str, int, str], dict[str, Any]] = {}
_MAX_MODEL_INFO = 64


def _model_info(loaded: LoadedModel, result: Recommendation) -> dict[str, Any]:
    key = (loaded.name, loaded.version, loaded.sha256)
    info = _MODEL_INFO.get(key)
    if info is None:
        m = loaded.manifest
        info = ModelInfoPublic(
            name=loaded.name,
            version=loaded.version,
            sha256=loaded.sha256,
            # include= keeps this cheap: the manifest also holds the whole vocabulary.
            metrics=m.model_dump(mode="json", include={"metrics"})["metrics"],
            dataset_fingerprint=m.dataset.fingerprint,
            intended_use=m.intended_use,
            synthetic=m.synthetic,
            threshold=m.threshold,
        ).model_dump()
        if len(_MODEL_INFO) >= _MAX_MODEL_INFO:
            _MODEL_INFO.clear()
        _MODEL_INFO[key] = info
    return {**info, "threshold": result.threshold}
