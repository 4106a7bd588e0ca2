"""The recommendation answer: model scores, evidence, DDI pairs of the set, unknown codes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.errors import ModelNotFound, ModelNotLoaded
from app.inference.recommender import Recommendation, Recommender
from app.inference.registry import LoadedModel, ModelRegistry
from app.schemas.recommendations import (
    DdiBlock,
    DiagnosisIn,
    ModelInfoPublic,
    ProcedureIn,
    RecommendationCreate,
    RecommendationPublic,
)
from app.services.ddi_snapshot import DdiSnapshot
from app.services.interactions import describe_pairs, summarize
from app.services.medication_codes import prepare_visits, restore_origins
from app.services.vocab_snapshot import VocabView

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
    session: Session,
    ddi: DdiSnapshot,
    vocab: VocabView,
    loaded: LoadedModel,
    pair_model: LoadedModel | None,
    request: RecommendationCreate,
) -> RecommendationPublic:
    """Score the request with ``loaded`` and attach the DDI pairs of the recommended set."""
    assert loaded.recommender is not None
    prepared = prepare_visits(request.visits, vocab)
    result = loaded.recommender.recommend(
        prepared.visits, threshold=request.threshold, top_k=request.top_k
    )
    result = restore_origins(result, prepared)
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
            "medications": [
                {**dataclasses.asdict(m), "display": vocab.display(m.atc3)}
                for m in result.medications
            ],
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
