"""The middleware stack, outermost first: request context, the auth gate, the body limits."""

from __future__ import annotations

from fastapi import FastAPI

from app.api.gate import AuthGate
from app.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.metrics import Metrics
from app.settings import Settings


def add_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Install the stack; ``add_middleware`` wraps, so the innermost is added first."""
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        uploads={"/v1/training-jobs": settings.max_upload_bytes},  # streamed, counted as read
        timeout=settings.body_timeout_seconds,
    )
    app.add_middleware(AuthGate)  # outside the body limit: nothing reads a refused body
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
