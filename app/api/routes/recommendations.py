"""``POST /v1/recommendations``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from app.api.deps import (
    DdiDep,
    MetricsDep,
    RegistryDep,
    SessionDep,
    SettingsDep,
    require_clinician,
)
from app.schemas.recommendations import RecommendationCreate, RecommendationPublic
from app.services.recommendations import recommend, resolve_model

router = APIRouter(
    prefix="/recommendations",
    tags=["recommendations"],
    dependencies=[Depends(require_clinician)],
    responses={
        404: {"description": "Requested model version is not active"},
        503: {"description": "No model loaded, the database or the rate limiter unavailable"},
    },
)


@router.post("")
def create_recommendation(
    body: RecommendationCreate,
    session: SessionDep,
    ddi: DdiDep,
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> RecommendationPublic:
    """Recommend ATC3 medications for the patient's last visit, with evidence and DDI pairs."""
    if len(body.visits) > settings.max_visits or any(
        len(v.diagnoses) + len(v.procedures) > settings.max_codes_per_visit for v in body.visits
    ):
        raise HTTPException(422, "too many visits or codes per visit for this server's limits")
    loaded = resolve_model(registry, body.model, settings.default_model)
    pair_model = registry.find(settings.pair_risk_model)
    with metrics.inference.labels(loaded.name).time():
        return recommend(
            session=session, ddi=ddi, loaded=loaded, pair_model=pair_model, request=body
        )
