"""The recommendation answer: model scores, evidence, DDI pairs of the set, unknown codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from app.contract.visits import RawVisit
from app.errors import ModelNotFound, ModelNotLoaded
from app.inference.recommender import Recommendation, ScoredMedication, UnknownCode
from app.inference.registry import LoadedModel, ModelRegistry
from app.schemas.recommendations import ModelInfoPublic, RecommendationCreate
from app.services.ddi_snapshot import DdiTableView
from app.services.interactions import assess_pairs

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
class RecommendationAnswer:
    """The answer (:class:`app.schemas.recommendations.RecommendationPublic`)."""

    model: dict[str, Any]
    pair_model: dict[str, Any] | None
    medications: list[ScoredMedication]
    ddi: DdiSummary
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


def recommend(
    *,
    view: DdiTableView,
    loaded: LoadedModel,
    pair_model: LoadedModel | None,
    request: RecommendationCreate,
    limits: RecommendationLimits,
) -> RecommendationAnswer:
    """Score the request with ``loaded`` and attach the DDI pairs of the recommended set.

    CPU only (no I/O), so the route runs it on the event loop: a thread hop for the route and
    another for FastAPI's check of a sync route's answer cost as much as the model.
    """
    assert loaded.recommender is not None
    visits = [
        RawVisit(
            diagnoses=[(c.system, c.code) for c in v.diagnoses],
            procedures=[(c.system, c.code) for c in v.procedures],
            medications=list(v.medications),
        )
        for v in request.visits
    ]
    top_k = min(request.top_k or limits.max_medications, limits.max_medications)
    result = loaded.recommender.recommend(visits, threshold=request.threshold, top_k=top_k)
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
        medications=result.medications,
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
        unknown_codes=result.unknown_codes,
        warnings=warnings,
    )


def _model_info(loaded: LoadedModel, result: Recommendation) -> dict[str, Any]:
    m = loaded.manifest
    return ModelInfoPublic(
        name=loaded.name,
        version=loaded.version,
        sha256=loaded.sha256,
        # include= keeps this cheap: the manifest also holds the whole vocabulary.
        metrics=m.model_dump(mode="json", include={"metrics"})["metrics"],
        dataset_fingerprint=m.dataset.fingerprint,
        intended_use=m.intended_use,
        synthetic=m.synthetic,
        threshold=result.threshold,
    ).model_dump()
