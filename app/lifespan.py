"""What the lifespan opens: engine, sessionmaker, model registry (active versions), audit queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from app.db.session import make_engine, make_sessionmaker
from app.inference.onnx import OrtOptions
from app.inference.registry import ModelRegistry
from app.jobs.cleanup import sweep_orphans
from app.jobs.runner import EmbeddedWorker
from app.metrics import Metrics
from app.services.audit_queue import AuditQueue, database_writer
from app.services.ddi_snapshot import DdiSnapshot
from app.services.key_cache import ApiKeyCache
from app.services.models import load_active
from app.services.rate_limit import RateLimiter
from app.settings import Settings

logger = logging.getLogger(__name__)


def make_lifespan(
    settings: Settings, metrics: Metrics
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[dict[str, Any]]]:
    """The app's lifespan: open resources, follow the registry, yield them as request state."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        with open_resources(settings, metrics) as state:
            limiter = _rate_limiter(settings)
            state["rate_limiter"] = limiter
            poller = asyncio.create_task(poll_registry(settings, state))
            worker = EmbeddedWorker(settings) if settings.runs_embedded_worker else None
            if worker is not None:
                worker.start()
            try:
                yield state
            finally:
                poller.cancel()
                if worker is not None:
                    worker.stop()
                metrics.close()
                if limiter is not None:
                    await limiter.close()

    return lifespan


def _rate_limiter(settings: Settings) -> RateLimiter | None:
    if settings.rate_limit_redis_url is None:
        return None
    return RateLimiter(
        settings.rate_limit_redis_url,
        per_minute=settings.rate_limit_per_minute,
        fail_open=settings.rate_limit_fail_open,
    )


@contextlib.contextmanager
def open_resources(settings: Settings, metrics: Metrics) -> Iterator[dict[str, Any]]:
    """Yield the lifespan state; the engine is disposed on exit."""
    engine = make_engine(settings)
    sessionmaker = make_sessionmaker(engine)
    registry = ModelRegistry(
        OrtOptions(settings.ort_intra_op_threads, settings.ort_inter_op_threads),
        evidence_per_medication=settings.evidence_per_medication,
        occlusion_budget=settings.occlusion_budget,
    )
    try:
        with sessionmaker() as session:
            for error in load_active(session=session, registry=registry):
                logger.error("start-up: %s", error)
            sweep_orphans(session=session, settings=settings)
    except SQLAlchemyError as exc:
        logger.error("database not ready (run `medrec db upgrade`): %s", type(exc).__name__)
    audit = AuditQueue(
        database_writer(sessionmaker),
        max_size=settings.audit_queue_size,
        flush_seconds=settings.audit_flush_seconds,
    )
    audit.start()
    try:
        yield {
            "settings": settings,
            "sessionmaker": sessionmaker,
            "registry": registry,
            "metrics": metrics,
            "ddi": DdiSnapshot(settings.ddi_snapshot_seconds),
            "key_cache": ApiKeyCache(settings.api_key_cache_seconds),
            "audit": audit,
        }
    finally:
        audit.close()  # uvicorn gets here on SIGTERM once in-flight requests are answered
        engine.dispose()


async def poll_registry(settings: Settings, state: dict[str, Any]) -> None:
    """Follow activations made through another worker: reload when the active rows change."""
    if settings.registry_poll_seconds <= 0:
        return
    while True:
        await asyncio.sleep(settings.registry_poll_seconds)
        await anyio.to_thread.run_sync(_sync_once, state)


def _sync_once(state: dict[str, Any]) -> None:
    try:
        with state["sessionmaker"]() as session:
            load_active(session=session, registry=state["registry"])
    except SQLAlchemyError as exc:
        logger.warning("registry sync skipped: %s", type(exc).__name__)
