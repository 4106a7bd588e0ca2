"""The ``/v1`` API router: includes the resource routers only."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.openapi import RETRY_AFTER
from app.api.routes import (
    api_keys,
    cds_feedback,
    interactions,
    models,
    recommendations,
    training_jobs,
)

# Every /v1 route may answer these; the bodies are problem+json (app.api.openapi).
_COMMON = {
    400: {"description": "A body that cannot be parsed (a malformed multipart form)"},
    401: {
        "description": "Missing or unknown API key",
        "headers": {"WWW-Authenticate": {"required": True, "schema": {"const": "ApiKey"}}},
    },
    403: {"description": "The key's role is not allowed here"},
    408: {"description": "The request body did not arrive in time"},
    413: {"description": "Request body over the limit"},
    422: {"description": "Invalid request (field paths, no values)"},
    429: {
        "description": "The key's rate limit is spent (where one is set)",
        "headers": RETRY_AFTER,
    },
    503: {"description": "The database is unavailable, or the rate limiter's store is down"},
}

api_router = APIRouter(responses=_COMMON)  # type: ignore[arg-type]
api_router.include_router(recommendations.router)
api_router.include_router(interactions.router)
api_router.include_router(models.router)
api_router.include_router(training_jobs.router)
api_router.include_router(cds_feedback.router)
api_router.include_router(api_keys.router)
