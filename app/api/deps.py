"""Dependency providers (``get_*``) and their ``Annotated`` aliases.

Every route depends on exactly one of an :func:`audited` authentication (the API key's, through
the role dependencies, or the CDS client's JWT) or :func:`public`; ``tests/app/api/test_deps.py``
walks ``app.routes`` to enforce it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.api.middleware import route_template
from app.crud import api_keys as keys_crud
from app.crud.audit import AuditRecord
from app.db.session import begin_write
from app.inference.registry import ModelRegistry
from app.metrics import Metrics
from app.services.audit_queue import AuditQueue
from app.services.ddi_snapshot import DdiSnapshot, DdiTableView
from app.services.key_cache import ApiKeyCache, KeyIdentity
from app.services.rate_limit import RateLimiter
from app.services.vocab_snapshot import VocabSnapshot, VocabView
from app.settings import Settings

logger = logging.getLogger(__name__)
API_KEY_HEADER = "X-API-Key"
T = TypeVar("T")
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="`medrec keys create --role clinician`"
)


# Dependencies that only read request state are ``async def``: FastAPI runs plain ``def``
# dependencies in the threadpool, a thread hop each (two for a generator). Those doing I/O
# are ``async def`` too when the I/O is rare or at the end; they run it with
# ``run_in_threadpool`` themselves, so a request takes one hop: the route (the audit event
# goes to a queue). Those whose I/O is rare (a stale snapshot, an uncached key) open a session
# only then (:func:`request_session`): a session per request, created and closed unused, and
# its dependency node cost a recommendation more than its model call's input encoding.


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.state.settings
    return settings


async def get_session(request: Request) -> AsyncGenerator[Session, None]:
    """One session per request; crud functions commit explicitly.

    Creating a session does no I/O; closing it does only while it still holds a transaction
    (a route read without committing, e.g. the DDI snapshot's revalidation), and then it
    closes in the threadpool.
    """
    session: Session = request.state.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):  # return the connection even if cancelled
                await run_in_threadpool(_close, session)
        else:
            _close(session)


@contextlib.asynccontextmanager
async def request_session(request: Request) -> AsyncIterator[Session]:
    """A session from the provider the routes use (``get_session``, or its override)."""
    override = request.app.dependency_overrides.get(get_session)
    if override is not None:
        yield override()
        return
    async with contextlib.aclosing(get_session(request)) as sessions:
        yield await anext(sessions)


def _close(session: Session) -> None:
    """Close ``session``; a connection that died under it (a database outage) is discarded.

    Its rollback raised after the answer had begun, and the client saw the connection drop.
    """
    try:
        session.close()
    except OperationalError:
        session.invalidate()


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


async def get_audit_queue(request: Request) -> AuditQueue:
    """The worker's audit write-behind queue."""
    audit: AuditQueue = request.state.audit
    return audit


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


async def _provided(request: Request, provider: Callable[[Request], Awaitable[T]]) -> T:
    """What ``provider`` gives, or its override (``app.dependency_overrides``, no arguments)."""
    override = request.app.dependency_overrides.get(provider)
    return override() if override is not None else await provider(request)


async def _current(request: Request, snapshot: DdiSnapshot | VocabSnapshot) -> Any:
    """A current version of ``snapshot``; revalidating it (rarely due) in the threadpool."""
    view = snapshot.fresh()
    if view is None:
        async with request_session(request) as session:
            view = await run_in_threadpool(snapshot.view, session)
    return view


@dataclass(frozen=True)
class Serving:
    """What the recommendation and interaction routes read, as one dependency.

    Each FastAPI dependency node cost a request some 20 to 80 µs, and these routes had six
    (the settings, the registry, and each snapshot and its current version); each part comes
    from its ``get_*`` provider, or that provider's override.
    """

    settings: Settings
    registry: ModelRegistry
    ddi: DdiTableView
    vocab: VocabView


async def get_serving(request: Request) -> Serving:
    """The settings, the registry and current versions of the DDI and code-map snapshots."""
    ddi: DdiTableView = await _current(request, await _provided(request, get_ddi))
    vocab: VocabView = await _current(request, await _provided(request, get_vocab))
    settings = await _provided(request, get_app_settings)
    return Serving(settings, await _provided(request, get_registry), ddi, vocab)


ServingDep = Annotated[Serving, Depends(get_serving)]


async def public() -> None:
    """Marks a route as deliberately unauthenticated and unaudited."""


F = TypeVar("F", bound=Callable[..., Any])


def audited(dependency: F) -> F:
    """Mark ``dependency`` (a route's authentication) as audited.

    :mod:`app.api.gate` queues one audit event for every request of a route that depends on
    it, when its answer starts (fail-closed: a full queue answers 503 instead). The event
    holds no PHI: the route template (not the URL), the key id, the status and the duration.
    It is written within the queue's flush interval (see :mod:`app.services.audit_queue`); no
    I/O happens on the request path.
    """
    dependency.is_audited = True  # type: ignore[attr-defined]  # read by app.api.gate
    return dependency


def _event(request: Request, status: int, start: float) -> AuditRecord:
    return AuditRecord(
        request_id=str(request.state.request_id),
        api_key_id=getattr(request.state, "api_key_id", None),
        method=request.method,
        route=route_template(request.scope),
        status_code=status,
        duration_ms=(time.perf_counter() - start) * 1000,
    )


def record_audit(request: Request, audit: AuditQueue, status: int, start: float) -> None:
    """Queue the audit event of a request answered with ``status`` (fail-closed).

    Raises:
        AuditUnavailable: the queue is full; the answer must not be sent.
    """
    audit.put(_event(request, status, start))


async def current_key(request: Request, key: str | None) -> KeyIdentity:
    """The caller's identity from the ``X-API-Key`` header value ``key``; 401 when unknown.

    Verified keys are cached per worker for ``api_key_cache_seconds`` (revocation takes effect
    within that time; see :mod:`app.services.key_cache`). Each request then counts against the
    key's rate limit, when one is set (:mod:`app.services.rate_limit`). The key the auth gate
    (:mod:`app.api.gate`) admitted for this request is not looked up again.
    """
    cache: ApiKeyCache = request.state.key_cache
    identity: KeyIdentity | None = getattr(request.state, "identity", None)
    if identity is None:
        settings: Settings = request.state.settings
        identity = await identify(key, request=request, settings=settings, cache=cache)
    if identity is None:
        raise HTTPException(
            401, "a valid X-API-Key header is required", headers={"WWW-Authenticate": "ApiKey"}
        )
    request.state.api_key_id = identity.id
    if cache.touch_due(identity.id):
        async with request_session(request) as session:
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
    key: str | None, *, request: Request, settings: Settings, cache: ApiKeyCache
) -> KeyIdentity | None:
    """The active key's identity (from the cache, else the database), or ``None``."""
    if not key:
        return None
    key_hash = keys_crud.hash_key(key, pepper=settings.api_key_pepper.get_secret_value())
    identity = cache.get(key_hash)
    if identity is None:
        async with request_session(request) as session:
            identity = await run_in_threadpool(_lookup, session, cache, key_hash)
    return identity


def _lookup(session: Session, cache: ApiKeyCache, key_hash: str) -> KeyIdentity | None:
    found = keys_crud.get_active_key(session=session, key_hash=key_hash)
    session.commit()  # end the lookup's read, so a write route can begin_write next
    if found is None:
        return None
    identity = KeyIdentity(*found)
    cache.put(key_hash, identity)
    return identity


def writes(session: SessionDep) -> None:
    """For routes that write: their transaction takes the write lock up front (SQLite)."""
    begin_write(session)


def require_role(role: str) -> Callable[..., Awaitable[KeyIdentity]]:
    """Return the (audited) dependency that admits keys of ``role`` or above (clinician < admin).

    It reads the header itself (:func:`current_key`) rather than depending on a key
    dependency: each FastAPI dependency node costs every request tens of microseconds.
    """

    @audited
    async def dependency(
        request: Request, key: Annotated[str | None, Security(api_key_scheme)]
    ) -> KeyIdentity:
        identity = await current_key(request, key)
        if not has_role(identity, role):
            raise HTTPException(403, f"this route needs the {role} role")
        return identity

    dependency.__name__ = f"require_{role}"
    dependency.required_role = role  # type: ignore[attr-defined]  # read by app.api.gate
    return dependency


def has_role(key: KeyIdentity, role: str) -> bool:
    """Whether ``key`` may use a route of ``role`` (clinician < admin)."""
    return keys_crud.ROLE_RANK[key.role] >= keys_crud.ROLE_RANK[role]


require_clinician = require_role("clinician")
require_admin = require_role("admin")
