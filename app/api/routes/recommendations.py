"""``POST /v1/recommendations``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from app.api.deps import ServingDep, require_clinician
from app.api.fhir import FHIR_JSON, accepts_fhir, fhir_response
from app.api.responses import OrjsonResponse
from app.metrics import Metrics
from app.schemas.recommendations import RecommendationCreate, RecommendationPublic
from app.services.fhir_input import bundle_resources, visits_of
from app.services.fhir_recommendations import recommendation_bundle
from app.services.recommendations import (
    RecommendationLimits,
    recommend,
    resolve_model,
    unknown_systems,
)

router = APIRouter(
    prefix="/recommendations",
    tags=["recommendations"],
    dependencies=[Depends(require_clinician)],
    responses={
        404: {"description": "Requested model version is not active"},
        503: {"description": "No model loaded, the database or the rate limiter unavailable"},
    },
)


@router.post(
    "",
    response_model=RecommendationPublic,
    responses={200: {"content": {FHIR_JSON: {}},
                     "description": "JSON, or a FHIR Bundle for Accept: application/fhir+json"}},
)  # fmt: skip
async def create_recommendation(
    request: Request,
    body: RecommendationCreate,
    serving: ServingDep,
    pairs: Annotated[
        Literal["relevant", "all"],
        Query(description="`relevant`: known or high-risk pairs, the rest counted; `all`"),
    ] = "relevant",
) -> Response:
    """Recommend ATC3 medications for the patient's last visit, with evidence and DDI pairs.

    Takes MedRec's JSON or a FHIR Bundle; answers JSON, or a FHIR Bundle when asked for one.
    """
    settings, registry, ddi, vocab = (serving.settings, serving.registry, serving.ddi,
                                      serving.vocab)  # fmt: skip
    loaded = resolve_model(registry, body.model, settings.default_model)
    assert loaded.recommender is not None
    extra: list[str] = []
    patient = None
    if body.bundle is not None:
        found = visits_of(bundle_resources(body.bundle.model_dump()), vocab=vocab,
                          known_systems=loaded.recommender.systems)  # fmt: skip
        body = body.model_copy(update={"visits": found.visits})
        extra, patient = found.warnings, found.patient
    elif errors := unknown_systems(loaded.recommender, body):
        raise RequestValidationError(errors)
    if len(body.visits) > settings.max_visits or any(
        len(v.diagnoses) + len(v.procedures) > settings.max_codes_per_visit for v in body.visits
    ):
        raise HTTPException(422, "too many visits or codes per visit for this server's limits")
    pair_model = registry.find(settings.pair_risk_model)
    metrics: Metrics = request.state.metrics
    with metrics.inference.labels(loaded.name).time():
        if accepts_fhir(request):
            return fhir_response(recommendation_bundle(
                ddi=ddi, vocab=vocab, loaded=loaded, pair_model=pair_model, request=body,
                patient=patient, max_medications=settings.max_recommended_medications,
                warnings=extra,
            ))  # fmt: skip
        limits = RecommendationLimits(
            max_medications=settings.max_recommended_medications,
            risk_threshold=settings.ddi_risk_threshold,
            all_pairs=pairs == "all",
        )
        answer = recommend(
            view=ddi,
            vocab=vocab,
            loaded=loaded,
            pair_model=pair_model,
            request=body,
            limits=limits,
        )
    answer.warnings.extend(extra)
    return OrjsonResponse(answer)
