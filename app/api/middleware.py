"""Pure ASGI middleware: request ids, metrics, the access log, and the request body limits."""

from __future__ import annotations

import logging
import re
import time

import anyio
from fastapi import HTTPException
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.db.ids import uuid7
from app.metrics import Metrics

logger = logging.getLogger(__name__)
# The access log: the route template, never the raw target (query strings carry codes).
access_logger = logging.getLogger("medrec.access")
# A client's X-Request-ID is kept only when it is a UUID (canonical or 32 hex digits): free text
# would let any value, a code included, into the log and the audit table.
_REQUEST_ID = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})$")
DISCONNECTED = "disconnected"  # the status label of a request whose client went away


def route_template(scope: Scope) -> str:
    """The matched route's full path template (``/v1/models/{name}``), or ``unmatched``.

    The template is the OpenAPI path: a convertor (``{job_id:uuid}``) is left out.

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
            id(ctx.original_route): ctx.path_format or "" for ctx in iter_route_contexts(app.routes)
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
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1").lower()
        request_id = incoming.replace("-", "") if _REQUEST_ID.match(incoming) else uuid7().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        start = time.perf_counter()
        status: int | None = None

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
        except OperationalError as exc:
            # The database is down (or SQLite is locked): the client may retry; the log gets
            # one line, not a traceback per request of the outage.
            logger.warning(
                "database unavailable on %s %s (%s)",
                scope["method"],
                route_template(scope),
                type(exc.orig).__name__,
            )
            if status is not None:
                raise
            detail = "the database is unavailable; retry shortly"
            await problem_response(503, "Service unavailable", detail)(scope, receive, send_with_id)
        except Exception:
            # Answered here, not by an ``Exception`` handler: Starlette's ServerErrorMiddleware
            # re-raises after its handler, so uvicorn logged each 500 a second time and closed
            # the keep-alive connection.
            logger.exception("unhandled error on %s %s", scope["method"], route_template(scope))
            if status is not None:
                raise  # the answer has begun: the server must close the connection
            detail = "see the server log for this request id"
            await problem_response(500, "Internal error", detail)(scope, receive, send_with_id)
        finally:
            self._observe(scope, status, start)

    def _observe(self, scope: Scope, status: int | None, start: float) -> None:
        route = route_template(scope)
        label = DISCONNECTED if scope["state"].get(DISCONNECTED) else str(status or 500)
        seconds = time.perf_counter() - start
        self.metrics.requests.labels(scope["method"], route, label).inc()
        self.metrics.latency.labels(scope["method"], route).observe(seconds)
        access_logger.info(
            "%s %s %s %.1fms %s",
            scope["method"],
            route,
            label,
            seconds * 1000,
            scope["state"]["request_id"],
        )


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, and bodies slower than ``timeout`` with 408.

    Bytes are counted as they arrive (chunked too). The body is read here, up to the limit,
    before the app sees it, then replayed; a ``Content-Length`` over the limit is refused
    without reading. ``timeout`` bounds the time from the first read to the last byte, so a
    client that announces 100 bytes and sends 5 cannot hold a connection (and its worker
    thread) forever. A client that goes away is marked ``disconnected`` for the metrics.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        uploads: dict[str, int] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Upload routes (path -> limit) are not buffered: bytes are counted as the app reads them.
        self.uploads = uploads or {}
        self.timeout = timeout

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
        with anyio.move_on_after(self.timeout) as deadline:
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    scope["state"][DISCONNECTED] = True
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
        if deadline.cancelled_caught:
            await self._too_slow(scope, receive, send)
            return
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

    async def _too_slow(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            408, "Request timeout", self._slow_detail, headers={"Connection": "close"}
        )
        await response(scope, receive, send)

    @property
    def _slow_detail(self) -> str:
        return f"the request body must arrive within {self.timeout:g} s"

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        size = 0
        deadline = time.monotonic() + self.timeout

        async def counted() -> Message:
            nonlocal size
            with anyio.move_on_after(deadline - time.monotonic()) as waited:
                message = await receive()
            if waited.cancelled_caught:  # FastAPI re-raises it from body parsing: a 408 answer
                raise HTTPException(408, self._slow_detail, headers={"Connection": "close"})
            if message["type"] == "http.disconnect":
                scope["state"][DISCONNECTED] = True
            size += len(message.get("body", b""))
            if size > limit:  # FastAPI re-raises HTTPException from body parsing: a 413 answer
                raise HTTPException(413, f"request bodies are limited to {limit} bytes")
            return message

        await self.app(scope, counted, send)
