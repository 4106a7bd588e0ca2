"""Authentication before the body, and the audit event of every audited request.

FastAPI reads and parses a request's body before it solves the route's dependencies, so the
key check of :mod:`app.api.deps` alone let anyone upload up to the body limit (2 GiB for a
training job) before hearing 401. This middleware checks the key and the route's role from the
headers first. A request it refuses is passed on *without its body* (no ``Content-Type``, no
``Content-Length``, an empty body): the route's own dependencies still answer 401 or 403, and
the client's bytes are never read.

Every request of an audited route (one whose authentication is marked
:func:`app.api.deps.audited`) gets its one audit event here, queued when its answer starts,
with the answer's status; a request that fails before answering is queued as a 500. When the
queue is full the answer is replaced by a 503 problem (fail-closed). Queuing it here, not in a
generator dependency, costs a recommendation no dependency node and no exit stack.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import (
    API_KEY_HEADER,
    get_audit_queue,
    has_role,
    identify,
    record_audit,
)
from app.api.problems import domain_problem
from app.errors import AuditUnavailable
from app.services.audit_queue import AuditQueue

logger = logging.getLogger(__name__)
_BODY_HEADERS = {b"content-type", b"content-length", b"transfer-encoding"}


@dataclass(frozen=True)
class _GatedRoute:
    path_regex: re.Pattern[str]
    methods: frozenset[str]
    role: str | None  # None: authenticated by its own dependency (the CDS client's JWT)


def _required_role(dependant: Dependant) -> str | None:
    for dep in dependant.dependencies:
        role = getattr(dep.call, "required_role", None) or _required_role(dep)
        if role is not None:
            return str(role)
    return None


def is_audited(dependant: Dependant) -> bool:
    """Whether the route of ``dependant`` depends on an :func:`app.api.deps.audited` one."""
    return any(
        getattr(d.call, "is_audited", False) or is_audited(d) for d in dependant.dependencies
    )


def gated_routes(app: Any) -> list[_GatedRoute]:
    """The audited routes, with their path regex, methods and role (once per app)."""
    routes: list[_GatedRoute] | None = getattr(app.state, "gated_routes", None)
    if routes is None:
        routes = []
        for ctx in iter_route_contexts(app.routes):
            dependant = getattr(ctx, "dependant", None)
            if dependant is not None and is_audited(dependant):
                role = _required_role(dependant)
                routes.append(_GatedRoute(ctx.path_regex, frozenset(ctx.methods or ()), role))
        app.state.gated_routes = routes
    return routes


def request_audit(request: Request) -> AuditQueue:
    """The audit queue the routes use (``get_audit_queue``, or its override)."""
    override = request.app.dependency_overrides.get(get_audit_queue)
    queue: AuditQueue = override() if override is not None else request.state.audit
    return queue


class AuthGate:
    """Check the API key and role from the headers before anything reads the body; audit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        start = time.perf_counter()
        if route.role is not None and not await self._admits(request, route.role):
            # In place, not a copy: the routing's ``route`` must reach the metrics' scope.
            scope["headers"] = [h for h in scope["headers"] if h[0] not in _BODY_HEADERS]
            receive = _empty_body(receive)
        audit = request_audit(request)
        queued = replaced = False

        async def send_audited(message: Message) -> None:
            nonlocal queued, replaced
            if replaced:
                return  # the route's answer, replaced by the 503 below
            if message["type"] == "http.response.start" and not queued:
                queued = True
                try:
                    record_audit(request, audit, message["status"], start)
                except AuditUnavailable as exc:
                    replaced = True
                    await (await domain_problem(request, exc))(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except Exception:
            if not queued:  # answered 500 by app.api.middleware, outside this one
                try:
                    record_audit(request, audit, 500, start)
                except AuditUnavailable:  # the failure is answered anyway; say so
                    logger.error("audit queue full: %s not audited", request.state.request_id)
            raise

    def _route(self, scope: Scope) -> _GatedRoute | None:
        for route in gated_routes(scope["app"]):
            if scope["method"] in route.methods and route.path_regex.match(scope["path"]):
                return route
        return None

    async def _admits(self, request: Request, role: str) -> bool:
        key = request.headers.get(API_KEY_HEADER)
        if not key:
            return False
        identity = await identify(
            key, request=request, settings=request.state.settings, cache=request.state.key_cache
        )
        if identity is None or not has_role(identity, role):
            return False
        request.state.api_key_id = identity.id
        request.state.identity = identity  # current_key takes it from here
        return True


def _empty_body(receive: Receive) -> Receive:
    sent = False

    async def empty() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while True:  # a later call waits for the disconnect; body chunks are dropped
            message = await receive()
            if message["type"] != "http.request":
                return message

    return empty
