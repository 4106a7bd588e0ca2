"""Dependency providers (``get_*``) and their ``Annotated`` aliases.

Every route depends on exactly one of :func:`audited` (through the role dependencies) or
:func:`public`; ``tests/app/api/test_deps.py`` walks ``app.routes`` to enforce it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.middleware import route_template
from app.crud import api_keys as keys_crud
from app.crud.audit import create_audit_event
from app.db.models import ApiKey
from app.db.session import begin_write
from app.errors import MedRecError
from app.inference.registry import ModelRegistry
from app.metrics import Metrics
from app.settings import Settings

logger = logging.getLogger(__name__)
API_KEY_HEADER = "X-API-Key"
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="`medrec keys create --role clinician`"
)


# Dependencies that only read request state are ``async def``: FastAPI runs plain ``def``
# dependencies in the threadpool, a thread hop each; those doing I/O stay ``def``.


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; crud functions commit explicitly."""
    with request.state.sessionmaker() as session:
        yield session


async def get_registry(request: Request) -> ModelRegistry:
    """The process's model registry."""
    registry: ModelRegistry = request.state.registry
    return registry


async def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus metrics."""
    metrics: Metrics = request.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def public() -> None:
    """Marks a route as deliberately unauthenticated and unaudited."""


def audited(request: Request, session: SessionDep) -> Iterator[None]:
    """Write one audit event per request (fail-closed: it commits before the response is sent).

    Holds no PHI: the route template (not the URL), the key id, the status and the duration.
    """
    start = time.perf_counter()
    status = getattr(request.scope.get("route"), "status_code", None) or 200
    try:
        yield
    except Exception as exc:
        session.rollback()
        _record(request, session, _status_of(exc), start, failing=True)
        raise
    session.commit()  # end the request's reads; the audit row gets its own write transaction
    _record(request, session, status, start, failing=False)


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


def get_current_key(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    key: Annotated[str | None, Security(api_key_scheme)],
    _audit: Annotated[None, Depends(audited, scope="function")],
) -> ApiKey:
    """The caller's API key from the ``X-API-Key`` header; 401 when missing or unknown."""
    row = None
    if key:
        pepper = settings.api_key_pepper.get_secret_value()
        row = keys_crud.get_api_key(session=session, key=key, pepper=pepper)
    if row is None:
        raise HTTPException(
            401, "a valid X-API-Key header is required", headers={"WWW-Authenticate": "ApiKey"}
        )
    request.state.api_key_id = row.id
    session.commit()  # end the lookup's read, so a write route can begin_write next
    return row


CurrentKey = Annotated[ApiKey, Depends(get_current_key)]


def writes(session: SessionDep) -> None:
    """For routes that write: their transaction takes the write lock up front (SQLite)."""
    begin_write(session)


def require_role(role: str) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """Return a dependency that admits keys of ``role`` or above (clinician < admin)."""

    async def dependency(key: CurrentKey) -> ApiKey:
        if keys_crud.ROLE_RANK[key.role] < keys_crud.ROLE_RANK[role]:
            raise HTTPException(403, f"this route needs the {role} role")
        return key

    dependency.__name__ = f"require_{role}"
    return dependency


require_clinician = require_role("clinician")
require_admin = require_role("admin")
