"""Liveness, readiness and Prometheus metrics: public, unaudited (probes and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response
from sqlalchemy import text

from app.api.deps import MetricsDep, RegistryDep, SessionDep, SettingsDep, public

router = APIRouter(tags=["health"], dependencies=[Depends(public)])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: a constant answer."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database or model not ready"}})
def readyz(session: SessionDep, registry: RegistryDep, settings: SettingsDep) -> dict[str, str]:
    """Readiness: the database answers and the default model is loaded."""
    try:
        session.execute(text("SELECT 1"))
    except Exception:  # any driver error means not ready; the probe needs no detail
        raise HTTPException(503, "database unreachable") from None
    loaded = registry.find(settings.default_model)
    if loaded is None:
        raise HTTPException(503, f"model {settings.default_model!r} is not loaded")
    return {"status": "ready", "model": f"{loaded.name}@{loaded.version}"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(metrics: MetricsDep, registry: RegistryDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(metrics.render(registry), media_type="text/plain; version=0.0.4")
