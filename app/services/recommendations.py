"""The recommendation answer: model scores, evidence, DDI pairs of the set, unknown codes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.contract.visits import RawVisit
from app.errors import ModelNotFound, ModelNotLoaded
from app.inference.recommender import Recommendation
from app.inference.registry import LoadedModel, ModelRegistry
from app.schemas.recommendations import (
    DdiBlock,
    ModelInfoPublic,
    RecommendationCreate,
    RecommendationPublic,
)
from app.services.ddi_snapshot import DdiSnapshot
from app.services.interactions import describe_pairs, summarize

SYNTHETIC_WARNING = "synthetic model trained on generated data: NOT FOR CLINICAL USE"


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
    session: Session,
    ddi: DdiSnapshot,
    loaded: LoadedModel,
    pair_model: LoadedModel | None,
    request: RecommendationCreate,
) -> RecommendationPublic:
    """Score the request with ``loaded`` and attach the DDI pairs of the recommended set."""
    assert loaded.recommender is not None
    visits = [
        RawVisit(
            diagnoses=[(c.system, c.code) for c in v.diagnoses],
            procedures=[(c.system, c.code) for c in v.procedures],
            medications=list(v.medications),
        )
        for v in request.visits
    ]
    result = loaded.recommender.recommend(visits, threshold=request.threshold, top_k=request.top_k)
    pairs = describe_pairs(
        session=session,
        ddi=ddi,
        drugs=[m.atc3 for m in result.medications],
        pair_model=pair_model,
    )
    rate, risk = summarize(pairs)
    warnings = list(result.warnings)
    if loaded.manifest.synthetic:
        warnings.insert(0, SYNTHETIC_WARNING)
    return RecommendationPublic.model_validate(
        {
            "model": _model_info(loaded, result),
            "medications": result.medications,
            "ddi": DdiBlock(pairs=pairs, ddi_rate=rate, max_risk=risk),
            "unknown_codes": result.unknown_codes,
            "warnings": warnings,
        },
        from_attributes=True,
    )


def _model_info(loaded: LoadedModel, result: Recommendation) -> ModelInfoPublic:
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
    )
