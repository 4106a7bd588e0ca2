"""Issue 16, item 1: a refused request's body is never read, on every route that takes one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.crud.audit import get_audit_events
from app.inference.registry import ModelRegistry
from app.settings import Settings
from tests.security.conftest import asgi_request, make_client

MiB = 1 << 20
BODY_ROUTES = [
    "/v1/training-jobs",
    "/v1/training-jobs/import",
    "/v1/recommendations",
    "/v1/interactions",
    "/v1/interactions/known",
    "/v1/models",
]


@pytest.fixture
def jobs(
    settings: Settings, session: Session, registry: ModelRegistry, home: Path
) -> Iterator[TestClient]:
    yield from make_client(settings, session, registry, home=home)


def _upload_headers(extra: dict[str, str]) -> dict[str, str]:
    return {
        "content-type": "multipart/form-data; boundary=xyz",
        "content-length": str(300 * MiB),
        "x-request-id": "0" * 31 + "1",
        **extra,
    }


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("caller", ["none", "bogus", "clinician"])
def test_refused_caller_body_is_not_read(
    jobs: TestClient, session: Session, clinician: dict[str, str], path: str, caller: str
) -> None:
    key = {"none": {}, "bogus": {"X-API-Key": "mr_bogus"}, "clinician": clinician}[caller]
    if caller == "clinician" and path in ("/v1/recommendations", "/v1/interactions"):
        pytest.skip("clinicians may use these routes")
    chunks = [b"--xyz\r\n" + b"x" * MiB for _ in range(8)]
    result = asgi_request(jobs, "POST", path, _upload_headers(key), chunks)
    assert result.status == (403 if caller == "clinician" else 401)
    assert result.bytes_read == 0
    assert len(get_audit_events(session=session, request_id="0" * 31 + "1")) == 1


def test_admin_upload_is_still_read(jobs: TestClient, admin: dict[str, str]) -> None:
    chunks = [b"--xyz\r\n" + b"x" * 1024]
    result = asgi_request(jobs, "POST", "/v1/training-jobs", _upload_headers(admin), chunks)
    assert result.bytes_read > 0
    assert result.status in (400, 413, 422)
