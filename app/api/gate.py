"""Authentication before the body: a refused request never has its body read.

FastAPI reads and parses a request's body before it solves the route's dependencies, so the
key check of :mod:`app.api.deps` alone let anyone upload up to the body limit (2 GiB for a
training job) before hearing 401. This middleware checks the key and the route's role from the
headers first. A request it refuses is passed on *without its body* (no ``Content-Type``, no
``Content-Length``, an empty body): the route's own dependencies still answer 401 or 403 and
write the audit row, and the client's bytes are never read.

A request the route's dependencies never see (malformed JSON, an unparsable form, a body over
the limit or too slow) still gets its one audit event: queued here, before the answer is sent.
"""

from __future__ import annotations

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
from app.services.audit_queue import AuditQueue

_BODY_HEADERS = {b"content-type", b"content-length", b"transfer-encoding"}


@dataclass(frozen=True)
class _GatedRoute:
    path_regex: re.Pattern[str]
    methods: frozenset[str]
    role: str


def _required_role(dependant: Dependant) -> str | None:
    for dep in dependant.dependencies:
        role = getattr(dep.call, "required_role", None) or _required_role(dep)
        if role is not None:
            return str(role)
    return None


def gated_routes(app: Any) -> list[_GatedRoute]:
    """The routes that need a role, with their path regex and methods (once per app)."""
    routes: list[_GatedRoute] | None = getattr(app.state, "gated_routes", None)
    if routes is None:
        routes = []
        for ctx in iter_route_contexts(app.routes):
            dependant = getattr(ctx, "dependant", None)
            role = _required_role(dependant) if dependant is not None else None
            if role is not None:
                routes.append(_GatedRoute(ctx.path_regex, frozenset(ctx.methods or ()), role))
        app.state.gated_routes = routes
    return routes


def request_audit(request: Request) -> AuditQueue:
    """The audit queue the routes use (``get_audit_queue``, or its override)."""
    override = request.app.dependency_overrides.get(get_audit_queue)
    queue: AuditQueue = override() if override is not None else request.state.audit
    return queue


class AuthGate:
    """Check the API key and role from the headers before anything reads the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        role = self._role(scope) if scope["type"] == "http" else None
        if role is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        start = time.perf_counter()
        if not await self._admits(request, role):
            # In place, not a copy: the routing's ``route`` must reach the metrics' scope.
            scope["headers"] = [h for h in scope["headers"] if h[0] not in _BODY_HEADERS]
            receive = _empty_body(receive)

        async def send_audited(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope["state"].get("audited"):
                record_audit(request, request_audit(request), message["status"], start)
            await send(message)

        await self.app(scope, receive, send_audited)

    def _role(self, scope: Scope) -> str | None:
        for route in gated_routes(scope["app"]):
            if scope["method"] in route.methods and route.path_regex.match(scope["path"]):
                return route.role
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
        request.state.identity = identity  # get_current_key takes it from here
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
