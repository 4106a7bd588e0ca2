from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.deps import get_audit_queue, get_registry, get_session, public
from app.api.gate import is_audited
from app.crud.audit import get_audit_events
from app.services.audit_queue import AuditQueue
from tests.app.factories import patient

DOC_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}


def _calls(dependant: Dependant) -> set[Any]:
    out = set()
    for dep in dependant.dependencies:
        out.add(dep.call)
        out |= _calls(dep)
    return out


def test_every_route_is_audited_or_explicitly_public(app: FastAPI) -> None:
    seen = set()
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIRoute):
            is_public = public in _calls(route.dependant)
            assert is_audited(route.dependant) != is_public, f"{ctx.path}: audited xor public"
            seen.add(ctx.path)
        else:
            assert ctx.path in DOC_ROUTES, f"{ctx.path} is neither an API route nor docs"
    assert {"/v1/recommendations", "/healthz", "/v1/models"} <= seen


DDI = {"csv": "atc3_a,atc3_b\nB01A,N02B\n", "source": "s", "source_version": "1"}
ACTIVATE = "/v1/models/{name}/versions/{version}/activate"
# (method, URL, json body, role needed, audited route template)
ROUTES = [
    ("POST", "/v1/recommendations", patient(), "clinician", "/v1/recommendations"),
    ("POST", "/v1/interactions", {"drugs": ["B01A", "N02B"]}, "clinician", "/v1/interactions"),
    ("GET", "/v1/interactions?drugs=B01A,N02B", None, "clinician", "/v1/interactions"),
    ("POST", "/v1/interactions/known", DDI, "admin", "/v1/interactions/known"),
    ("GET", "/v1/models", None, "admin", "/v1/models"),
    ("GET", "/v1/models/gamenet", None, "admin", "/v1/models/{name}"),
    ("POST", "/v1/models", {"path": "/nonexistent"}, "admin", "/v1/models"),
    ("POST", "/v1/models/gamenet/versions/9/activate", None, "admin", ACTIVATE),
]


@pytest.mark.parametrize(("method", "path", "body", "needed", "template"), ROUTES)
@pytest.mark.parametrize("caller", ["none", "bogus", "clinician", "admin"])
def test_auth_and_audit_matrix(
    client: TestClient,
    session: Session,
    clinician: dict[str, str],
    admin: dict[str, str],
    method: str,
    path: str,
    body: Any,
    needed: str,
    template: str,
    caller: str,
) -> None:
    headers = {
        "none": {},
        "bogus": {"X-API-Key": "mr_bogus"},
        "clinician": clinician,
        "admin": admin,
    }[caller]
    request_id = uuid.uuid4().hex
    r = client.request(method, path, json=body, headers={**headers, "X-Request-ID": request_id})
    if caller in ("none", "bogus"):
        expected = {401}
    elif caller == "clinician" and needed == "admin":
        expected = {403}
    else:
        expected = {200, 201, 404, 422}
        if (method, path) == ("POST", "/v1/models"):
            expected.add(403)  # the path is outside the server's artifacts directory
    assert r.status_code in expected, r.text
    assert r.headers["x-request-id"] == request_id
    [event] = get_audit_events(session=session, request_id=request_id)
    assert event.status_code == r.status_code
    assert event.method == method and event.route == template
    assert (event.api_key_id is None) == (caller in ("none", "bogus"))
    assert event.outcome == (
        "denied" if r.status_code in (401, 403) else "ok" if r.status_code < 400 else "rejected"
    )
    assert event.duration_ms >= 0
    stored = " ".join(str(getattr(event, c)) for c in ("route", "method", "outcome", "request_id"))
    assert "401.9" not in stored and "B01A" not in stored


def test_a_request_that_fails_unanswered_is_audited_as_a_500(
    app: FastAPI, client: TestClient, session: Session, clinician: dict[str, str]
) -> None:
    def broken() -> None:
        raise RuntimeError("registry gone")

    app.dependency_overrides[get_registry] = broken
    request_id = uuid.uuid4().hex
    headers = {**clinician, "X-Request-ID": request_id}
    r = client.post("/v1/recommendations", json=patient(), headers=headers)
    assert r.status_code == 500
    [event] = get_audit_events(session=session, request_id=request_id)
    assert event.status_code == 500 and event.route == "/v1/recommendations"


@pytest.mark.parametrize("accept", ["application/json", "application/fhir+json"])
def test_a_full_queue_replaces_a_refusal_by_a_503_too(
    app: FastAPI, client: TestClient, accept: str
) -> None:
    app.dependency_overrides[get_audit_queue] = lambda: AuditQueue(
        lambda events: None, max_size=0, flush_seconds=1.0
    )
    r = client.post("/v1/recommendations", json=patient(), headers={"Accept": accept})
    assert r.status_code == 503  # the 401 could not be audited: not sent
    if accept == "application/json":
        assert r.json()["title"] == "Audit log unavailable"
    else:
        assert r.json()["issue"][0]["code"] == "transient"


def test_public_routes_are_not_audited(client: TestClient, session: Session) -> None:
    request_id = uuid.uuid4().hex
    assert client.get("/healthz", headers={"X-Request-ID": request_id}).is_success
    assert get_audit_events(session=session, request_id=request_id) == []


def test_a_cached_key_and_fresh_snapshots_open_no_session(
    app: FastAPI, client: TestClient, session: Session, clinician: dict[str, str]
) -> None:
    opened = []

    def counted() -> Session:
        opened.append(1)
        return session

    app.dependency_overrides[get_session] = counted
    first = client.post("/v1/recommendations", json=patient(), headers=clinician)
    assert first.status_code == 200 and opened  # the key and both snapshots were loaded
    opened.clear()
    again = client.post("/v1/recommendations", json=patient(), headers=clinician)
    assert again.status_code == 200 and opened == []  # all from the worker's memory
