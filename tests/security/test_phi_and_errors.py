"""Issue 16, items 3, 7 and 9: no submitted code in logs, DB or errors; bounded, strict errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.deps import get_ddi
from app.crud.audit import get_audit_events
from app.db.models import AuditEvent
from app.inference.registry import LoadBackoff, ModelRegistry
from app.services.models import load_active, register_artifact
from app.settings import Settings
from tests.app.factories import write_recommender_artifact
from tests.security.conftest import make_client

MARKER = "X42XQ77"  # ATC-shaped, so it passes validation where a drug code may go


def _diagnosis(code: str) -> dict[str, str]:
    return {"system": "icd9cm", "code": code}


def test_a_marker_code_reaches_no_log_row_or_error_body(
    client: TestClient,
    session: Session,
    clinician: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {**clinician, "X-Request-ID": MARKER + "-0000-0000-000000000000"}
    answers = [
        client.get(f"/v1/interactions?drugs=N02B,{MARKER}", headers=headers),
        client.post("/v1/interactions", json={"drugs": ["N02B", MARKER]}, headers=headers),
        client.post("/v1/recommendations", json={"visits": [{MARKER: 1}]}, headers=headers),
        client.post(
            "/v1/recommendations",
            json={"visits": [{"diagnoses": [_diagnosis(MARKER + "!")]}]},
            headers=headers,
        ),
        client.get(f"/v1/models/{MARKER}", headers=headers),
    ]
    for r in answers:
        if r.status_code >= 400:
            assert MARKER not in r.text, r.text
        assert MARKER not in r.headers["x-request-id"]
    server = [r for r in caplog.records if not r.name.startswith("httpx")]  # the client's own
    assert not [r.getMessage() for r in server if MARKER in r.getMessage()]
    assert any(r.name == "medrec.access" for r in server)
    for event in session.query(AuditEvent).all():
        assert MARKER not in " ".join(str(v) for v in vars(event).values())


def test_loose_types_and_nan_are_refused(client: TestClient, clinician: dict[str, str]) -> None:
    for top_k in (True, "5"):
        body = {"visits": [{}], "top_k": top_k}
        r = client.post("/v1/recommendations", json=body, headers=clinician)
        assert r.status_code == 422, top_k
    r = client.post(
        "/v1/recommendations",
        content=b'{"visits": [{}], "threshold": NaN}',
        headers={**clinician, "content-type": "application/json"},
    )
    assert r.status_code == 422 and "finite" in r.json()["errors"][0]["msg"]
    assert client.post(
        "/v1/recommendations", json={"visits": [{}], "top_k": 5.0}, headers=clinician
    ).is_success


def test_replace_is_a_boolean(client: TestClient, admin: dict[str, str]) -> None:
    body = {"csv": "atc3_a,atc3_b\nB01A,N02B\n", "source": "s", "source_version": "1", "replace": 0}
    assert client.post("/v1/interactions/known", json=body, headers=admin).status_code == 422


def test_malformed_json_is_authenticated_and_audited(
    client: TestClient, session: Session, clinician: dict[str, str]
) -> None:
    request_id = "0123456789abcdef0123456789abcdef"
    r = client.post(
        "/v1/recommendations",
        content=b'{"visits": [',
        headers={"content-type": "application/json", "X-Request-ID": request_id},
    )
    assert r.status_code == 401
    r = client.post(
        "/v1/recommendations",
        content=b'{"visits": [',
        headers={**clinician, "content-type": "application/json", "X-Request-ID": request_id},
    )
    assert r.status_code == 422
    assert [e.status_code for e in get_audit_events(session=session, request_id=request_id)] == [
        401,
        422,
    ]


@pytest.fixture
def roomy(
    settings: Settings, session: Session, registry: ModelRegistry, tmp_path: Path
) -> Iterator[TestClient]:
    yield from make_client(settings, session, registry, home=tmp_path, max_body_bytes=8 << 20)


def test_a_422_lists_at_most_20_errors(roomy: TestClient, clinician: dict[str, str]) -> None:
    visit = {"diagnoses": [{"system": "nope", "code": "1"}] * 30}  # the schema's caps
    r = roomy.post("/v1/recommendations", json={"visits": [visit] * 20}, headers=clinician)
    assert r.status_code == 422
    assert len(r.json()["errors"]) == 20 and "600 field(s)" in r.json()["detail"]
    assert len(r.content) < 10_000


def test_an_unexpected_error_is_logged_once_and_answered(
    app: object, client: TestClient, clinician: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    client.app.dependency_overrides[get_ddi] = broken  # type: ignore[attr-defined]
    body = {"drugs": ["N02B", "B01A"]}
    r = client.post("/v1/interactions", json=body, headers=clinician)
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert len([rec for rec in caplog.records if rec.levelno >= logging.ERROR]) == 1


def test_a_broken_active_artifact_is_logged_once_then_at_a_back_off(
    session: Session, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from app.services.models import activate_version

    write_recommender_artifact(tmp_path / "n", name="gbert", version=77)
    register_artifact(session=session, path=tmp_path / "n")
    activate_version(session=session, registry=ModelRegistry(), name="gbert", version=77)
    (tmp_path / "n" / "model.onnx").write_bytes(b"broken")
    now = [0.0]
    follower = ModelRegistry()
    follower.backoff = LoadBackoff(clock=lambda: now[0])
    for _ in range(60):  # five minutes of 5-second syncs
        load_active(session=session, registry=follower)
        now[0] += 5.0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(errors) == 1
    assert len(retries) <= 6  # 5, 10, 20, 40, 80, 160 s
