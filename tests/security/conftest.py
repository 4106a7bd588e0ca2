"""Fixtures of the security suite (issue 16): the service fixtures, and a raw ASGI driver.

The suite reuses the service tests' fixtures (settings, a migrated database per backend, the
per-test session, keys); ``asgi_request`` drives the app below the HTTP client, so a test can
see how much of a body the app read and when.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.inference.registry import ModelRegistry
from app.main import create_app
from app.settings import Settings
from tests.app.conftest import (  # noqa: F401 (fixtures)
    admin,
    app,
    artifact,
    client,
    clinician,
    database_url,
    engine,
    inject,
    registry,
    session,
    settings,
)


@dataclass
class AsgiResult:
    """What the app answered and how many body bytes it asked for."""

    status: int
    body: bytes
    bytes_read: int
    headers: dict[str, str] = field(default_factory=dict)


def asgi_request(
    started: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes],
    *,
    stall: float | None = None,
) -> AsgiResult:
    """Call the app of the ``started`` client with ``chunks`` as the body, counting bytes read.

    ``stall``: after the chunks, the client sends nothing for this long, then disconnects.
    """
    read = 0
    answer: dict[str, object] = {"body": b""}
    pending = list(chunks)

    async def receive() -> dict[str, object]:
        nonlocal read
        if pending:
            chunk = pending.pop(0)
            read += len(chunk)
            more = bool(pending) or stall is not None
            return {"type": "http.request", "body": chunk, "more_body": more}
        if stall is not None:
            await anyio.sleep(stall)
        else:
            await anyio.sleep_forever()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {
                k.decode(): v.decode()
                for k, v in message.get("headers", [])  # type: ignore[attr-defined]
            }
        elif message["type"] == "http.response.body":
            answer["body"] = answer["body"] + message.get("body", b"")  # type: ignore[operator]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": dict(started.app_state),
    }

    async def call() -> None:
        await started.app(scope, receive, send)  # type: ignore[arg-type]

    anyio.run(call)
    return AsgiResult(
        int(answer.get("status", 0)),  # type: ignore[call-overload]
        answer["body"],  # type: ignore[arg-type]
        read,
        answer.get("headers", {}),  # type: ignore[arg-type]
    )


def make_client(
    base: Settings, db: Session, models: ModelRegistry, **update: object
) -> Iterator[TestClient]:
    """A started client of an app on ``db`` and ``models``, with ``base`` changed by ``update``."""
    service: FastAPI = inject(create_app(base.model_copy(update=update)), db, models)
    with TestClient(service) as started:
        yield started


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh ``MEDREC_HOME``."""
    return tmp_path / "home"
