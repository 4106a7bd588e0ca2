"""The ASGI app: ``create_app(settings)`` wires it; resources open in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.api.openapi import custom_openapi
from app.api.problems import add_problem_handlers
from app.api.router import api_router
from app.api.routes import health
from app.lifespan import open_resources, poll_registry
from app.metrics import Metrics
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        with open_resources(settings, metrics) as state:
            poller = asyncio.create_task(poll_registry(settings, state))
            try:
                yield state
            finally:
                poller.cancel()

    docs = settings.enable_docs
    app = FastAPI(
        title="MedRec",
        version="0.1.0",
        lifespan=lifespan,
        description="Medication recommendation with evidence and DDI risk. "
        "Not for clinical use with demo models.",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        generate_unique_id_function=_operation_id,
    )
    app.include_router(health.router)
    app.include_router(api_router, prefix="/v1")
    add_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.openapi = lambda: custom_openapi(app)  # type: ignore[method-assign]
    return app


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def asgi() -> FastAPI:
    """Factory for ``uvicorn --factory app.main:asgi``: logging set up here, settings from env."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(settings)
