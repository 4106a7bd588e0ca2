"""The ASGI app: ``create_app(settings)`` wires it; resources open in the lifespan."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from app.api.openapi import custom_openapi, operation_id
from app.api.problems import add_problem_handlers
from app.api.router import api_router
from app.api.routes import cds_hooks, health
from app.api.stack import add_middleware
from app.lifespan import make_lifespan
from app.metrics import Metrics
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    metrics = Metrics(settings.metrics_multiprocess_dir)
    app = FastAPI(
        title="MedRec",
        version="0.1.0",
        description="Medication recommendation with evidence and DDI risk. Demo models are "
        "synthetic: not for clinical use.",
        lifespan=make_lifespan(settings, metrics),
        docs_url="/docs" if settings.enable_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.enable_docs else None,
        generate_unique_id_function=operation_id,
    )
    app.include_router(health.router)
    app.include_router(api_router, prefix="/v1")
    app.include_router(cds_hooks.router)  # at the root: clients call <base>/cds-services
    add_problem_handlers(app)
    add_middleware(app, settings, metrics)
    app.openapi = lambda: custom_openapi(app)  # type: ignore[method-assign]
    return app


def asgi() -> FastAPI:
    """Factory for ``uvicorn --factory app.main:asgi``: logging set up here, settings from env.

    The level is set even where logging was configured before (``medrec serve`` with one
    worker runs this in the CLI's process, whose root logger is at INFO): otherwise
    ``MEDREC_LOG_LEVEL=warning`` still wrote an access-log line per request.
    """
    settings = get_settings()
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(format=fmt)
    logging.getLogger().setLevel(settings.log_level.upper())
    return create_app(settings)
