"""Pure ASGI middleware: request ids and metrics, and the request body limit."""

from __future__ import annotations

import re
import time
import uuid

from fastapi import HTTPException
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.metrics import Metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def route_template(scope: Scope) -> str:
    """The matched route's full path template (``/v1/models/{name}``), or ``unmatched``.

    Templates, not URLs: label cardinality stays bounded and no submitted value is recorded.
    FastAPI puts the route as declared (without router prefixes) in the scope, so the full
    template is looked up once per app from ``iter_route_contexts``.
    """
    route = scope.get("route")
    app = scope.get("app")
    if route is None or app is None:
        return "unmatched"
    templates: dict[int, str] | None = getattr(app.state, "route_templates", None)
    if templates is None:
        templates = {
            id(ctx.original_route): ctx.path or "" for ctx in iter_route_contexts(app.routes)
        }
        app.state.route_templates = templates
    return templates.get(id(route), "unmatched")


class RequestContextMiddleware:
    """Give each request an id (``X-Request-ID``) and count it by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_template(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, counting bytes as they arrive (chunked too).

    The body is read here, up to the limit, before the app sees it, then replayed; a
    ``Content-Length`` over the limit is refused without reading.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Upload routes (path -> limit) are not buffered: bytes are counted as the app reads them.
        self.uploads = uploads or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.uploads:
            await self._stream(scope, receive, send, self.uploads[scope["path"]])
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, limit: int | None = None
    ) -> None:
        detail = f"request bodies are limited to {limit or self.max_bytes} bytes"
        response = problem_response(413, "Content too large", detail)
        await response(scope, receive, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:  # FastAPI re-raises HTTPException from body parsing: a 413 answer
                raise HTTPException(413, f"request bodies are limited to {limit} bytes")
            return message

        await self.app(scope, counted, send)
