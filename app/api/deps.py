"""Dependency providers (``get_*``) and their ``Annotated`` aliases.

Every route depends on exactly one of :func:`audited` (through the role dependencies) or
:func:`public`; ``tests/app/api/test_deps.py`` walks ``app.routes`` to enforce it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.middleware import route_template
from app.crud import api_keys as keys_crud
from app.crud.audit import create_audit_event
from app.db.session import begin_write
from app.errors import MedRecError
from app.inference.registry import ModelRegistry
from app.metrics import Metrics
from app.services.ddi_snapshot import DdiSnapshot
from app.services.key_cache import ApiKeyCache, KeyIdentity
from app.services.rate_limit import RateLimiter
from app.services.vocab_snapshot import VocabSnapshot
from app.settings import Settings

logger = logging.getLogger(__name__)
API_KEY_HEADER = "X-API-Key"
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="`medrec keys create --role clinician`"
)


# Dependencies that only read request state are ``async def``: FastAPI runs plain ``def``
# dependencies in the threadpool, a thread hop each (two for a generator). Those doing I/O
# are ``async def`` too when the I/O is rare or at the end; they run it with
# ``run_in_threadpool`` themselves, so a request takes two hops: the route and the audit write.


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.state.settings
    return settings


async def get_session(request: Request) -> AsyncGenerator[Session, None]:
    """One session per request; crud functions commit explicitly.

    Creating a session does no I/O; closing it does only while it still holds a transaction
    (the audit write normally ended it), and then it closes in the threadpool.
    """
    session: Session = request.state.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):  # return the connection even if cancelled
                await run_in_threadpool(session.close)
        else:
            session.close()


async def get_registry(request: Request) -> ModelRegistry:
    """The process's model registry."""
    registry: ModelRegistry = request.state.registry
    return registry


async def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus metrics."""
    metrics: Metrics = request.state.metrics
    return metrics


async def get_ddi(request: Request) -> DdiSnapshot:
    """The worker's DDI knowledge-base snapshot."""
    ddi: DdiSnapshot = request.state.ddi
    return ddi


async def get_key_cache(request: Request) -> ApiKeyCache:
    """The worker's cache of verified API keys."""
    cache: ApiKeyCache = request.state.key_cache
    return cache


async def get_vocab(request: Request) -> VocabSnapshot:
    """The worker's snapshot of the medication code maps."""
    vocab: VocabSnapshot = request.state.vocab
    return vocab


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
DdiDep = Annotated[DdiSnapshot, Depends(get_ddi)]
KeyCacheDep = Annotated[ApiKeyCache, Depends(get_key_cache)]
VocabDep = Annotated[VocabSnapshot, Depends(get_vocab)]


async def public() -> None:
    """Marks a route as deliberately unauthenticated and unaudited."""


async def audited(request: Request, session: SessionDep) -> AsyncIterator[None]:
    """Write one audit event per request (fail-closed: it commits before the response is sent).

    Holds no PHI: the route template (not the URL), the key id, the status and the duration.
    The write is one Core ``INSERT`` on the request's session, in the threadpool.
    """
    start = time.perf_counter()
    status = getattr(request.scope.get("route"), "status_code", None) or 200
    request.state.audited = True  # app.api.gate audits the requests that never get here
    try:
        yield
    except Exception as exc:
        await run_in_threadpool(_record_failure, request, session, _status_of(exc), start)
        raise
    await run_in_threadpool(_record_success, request, session, status, start)


def _record_success(request: Request, session: Session, status: int, start: float) -> None:
    if session.in_transaction():
        session.commit()  # end the request's reads; the audit row gets its own write transaction
    _record(request, session, status, start, failing=False)


def _record_failure(request: Request, session: Session, status: int, start: float) -> None:
    session.rollback()
    _record(request, session, status, start, failing=True)


def record_audit(request: Request, session: Session, status: int, start: float) -> None:
    """Audit a request answered before its route's dependencies ran (fail-closed)."""
    _record_success(request, session, status, start)


def _record(
    request: Request, session: Session, status: int, start: float, *, failing: bool
) -> None:
    route = route_template(request.scope)
    try:
        begin_write(session)
        create_audit_event(
            session=session,
            request_id=str(request.state.request_id),
            api_key_id=getattr(request.state, "api_key_id", None),
            method=request.method,
            route=route,
            status_code=status,
            duration_ms=(time.perf_counter() - start) * 1000,
        )
    except Exception:
        if not failing:
            raise
        logger.exception("audit write failed for request %s", request.state.request_id)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return 422
    if isinstance(exc, MedRecError):
        return exc.status
    return 500


async def get_current_key(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    key: Annotated[str | None, Security(api_key_scheme)],
    cache: KeyCacheDep,
    _audit: Annotated[None, Depends(audited, scope="function")],
) -> KeyIdentity:
    """The caller's API key from the ``X-API-Key`` header; 401 when missing or unknown.

    Verified keys are cached per worker for ``api_key_cache_seconds`` (revocation takes effect
    within that time; see :mod:`app.services.key_cache`). Each request then counts against the
    key's rate limit, when one is set (:mod:`app.services.rate_limit`).
    """
    identity = await identify(key, session=session, settings=settings, cache=cache)
    if identity is None:
        raise HTTPException(
            401, "a valid X-API-Key header is required", headers={"WWW-Authenticate": "ApiKey"}
        )
    request.state.api_key_id = identity.id
    if cache.touch_due(identity.id):
        await run_in_threadpool(_touch, session, identity.id)
    limiter: RateLimiter | None = request.state.rate_limiter
    if limiter is not None:
        await limiter.hit(str(identity.id))
    return identity


def _touch(session: Session, key_id: uuid.UUID) -> None:
    if session.in_transaction():
        session.commit()
    begin_write(session)
    keys_crud.touch_api_key(session=session, key_id=key_id)


async def identify(
    key: str | None, *, session: Session, settings: Settings, cache: ApiKeyCache
) -> KeyIdentity | None:
    """The active key's identity (from the cache, else the database), or ``None``."""
    if not key:
        return None
    key_hash = keys_crud.hash_key(key, pepper=settings.api_key_pepper.get_secret_value())
    return cache.get(key_hash) or await run_in_threadpool(_lookup, session, cache, key_hash)


def _lookup(session: Session, cache: ApiKeyCache, key_hash: str) -> KeyIdentity | None:
    found = keys_crud.get_active_key(session=session, key_hash=key_hash)
    session.commit()  # end the lookup's read, so a write route can begin_write next
    if found is None:
        return None
    identity = KeyIdentity(*found)
    cache.put(key_hash, identity)
    return identity


CurrentKey = Annotated[KeyIdentity, Depends(get_current_key)]


def writes(session: SessionDep) -> None:
    """For routes that write: their transaction takes the write lock up front (SQLite)."""
    begin_write(session)


def require_role(role: str) -> Callable[[KeyIdentity], Awaitable[KeyIdentity]]:
    """Return a dependency that admits keys of ``role`` or above (clinician < admin)."""

    async def dependency(key: CurrentKey) -> KeyIdentity:
        if not has_role(key, role):
            raise HTTPException(403, f"this route needs the {role} role")
        return key

    dependency.__name__ = f"require_{role}"
    dependency.required_role = role  # type: ignore[attr-defined]  # read by app.api.gate
    return dependency


def has_role(key: KeyIdentity, role: str) -> bool:
    """Whether ``key`` may use a route of ``role`` (clinician < admin)."""
    return keys_crud.ROLE_RANK[key.role] >= keys_crud.ROLE_RANK[role]


require_clinician = require_role("clinician")
require_admin = require_role("admin")
