"""``POST /v1/recommendations``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from app.api.deps import DdiViewDep, MetricsDep, RegistryDep, SettingsDep, require_clinician
from app.api.responses import OrjsonResponse
from app.schemas.recommendations import RecommendationCreate, RecommendationPublic
from app.services.recommendations import RecommendationLimits, recommend, resolve_model

router = APIRouter(
    prefix="/recommendations",
    tags=["recommendations"],
    dependencies=[Depends(require_clinician)],
    responses={
        404: {"description": "Requested model version is not active"},
        503: {"description": "No model loaded, the database or the rate limiter unavailable"},
    },
)


@router.post("", response_model=RecommendationPublic)
async def create_recommendation(
    body: RecommendationCreate,
    ddi: DdiViewDep,
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    pairs: Annotated[
        Literal["relevant", "all"],
        Query(description="`relevant`: known or high-risk pairs, the rest counted; `all`"),
    ] = "relevant",
) -> OrjsonResponse:
    """Recommend ATC3 medications for the patient's last visit, with evidence and DDI pairs."""
    if len(body.visits) > settings.max_visits or any(
        len(v.diagnoses) + len(v.procedures) > settings.max_codes_per_visit for v in body.visits
    ):
        raise HTTPException(422, "too many visits or codes per visit for this server's limits")
    loaded = resolve_model(registry, body.model, settings.default_model)
    limits = RecommendationLimits(
        max_medications=settings.max_recommended_medications,
        risk_threshold=settings.ddi_risk_threshold,
        all_pairs=pairs == "all",
    )
    with metrics.inference.labels(loaded.name).time():
        answer = recommend(
            view=ddi,
            loaded=loaded,
            pair_model=registry.find(settings.pair_risk_model),
            request=body,
            limits=limits,
        )
    return OrjsonResponse(answer)
