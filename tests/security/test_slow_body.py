"""Issue 16, item 2: a slow body is answered 408 in bounded time; a disconnect is its own label."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.inference.registry import ModelRegistry
from app.settings import Settings
from tests.security.conftest import asgi_request, make_client


@pytest.fixture
def impatient(
    settings: Settings, session: Session, registry: ModelRegistry, home: Path
) -> Iterator[TestClient]:
    yield from make_client(settings, session, registry, home=home, body_timeout_seconds=0.5)


@pytest.mark.parametrize(
    ("path", "role", "content_type"),
    [
        ("/v1/interactions", "clinician", "application/json"),
        ("/v1/training-jobs", "admin", "multipart/form-data; boundary=xyz"),
    ],
)
def test_slow_body_is_answered_408(
    impatient: TestClient,
    clinician: dict[str, str],
    admin: dict[str, str],
    path: str,
    role: str,
    content_type: str,
) -> None:
    key = clinician if role == "clinician" else admin
    headers = {**key, "content-type": content_type, "content-length": "100"}
    start = time.monotonic()
    result = asgi_request(impatient, "POST", path, headers, [b"--xyz"], stall=5.0)
    assert result.status == 408
    assert result.headers["connection"] == "close"
    assert time.monotonic() - start < 3.0


def test_client_disconnect_has_its_own_metric_label(
    impatient: TestClient, clinician: dict[str, str]
) -> None:
    headers = {**clinician, "content-type": "application/json", "content-length": "100"}
    asgi_request(impatient, "POST", "/v1/interactions", headers, [b'{"dr'], stall=0.05)
    text = impatient.get("/metrics").text
    assert 'status="disconnected"' in text
    assert 'status="500"' not in text
