from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.db.models import ApiKey

URL = "/v1/api-keys"


def test_key_lifecycle_over_the_api(
    client: TestClient, admin: dict[str, str], clinician: dict[str, str], session: Session
) -> None:
    r = client.post(URL, json={"name": "ward-7", "role": "clinician"}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    key = {"X-API-Key": created["key"]}
    assert created["last_used_at"] is None and created["revoked_at"] is None
    assert client.get("/v1/interactions?drugs=B01A,N02B", headers=key).status_code == 200
    listed = {k["id"]: k for k in client.get(URL, headers=admin).json()["data"]}
    assert listed[created["id"]]["last_used_at"] is not None
    assert "key" not in listed[created["id"]] and "key_hash" not in listed[created["id"]]

    r = client.post(f"{URL}/{created['id']}/rotate", headers=admin)
    assert r.status_code == 201
    successor = {"X-API-Key": r.json()["key"]}
    assert r.json()["name"] == "ward-7" and r.json()["role"] == "clinician"
    # Revoked through this worker: refused at once, although the key was cached.
    assert client.get("/v1/interactions?drugs=B01A,N02B", headers=key).status_code == 401
    assert client.get("/v1/interactions?drugs=B01A,N02B", headers=successor).status_code == 200

    r = client.post(f"{URL}/{r.json()['id']}/revoke", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert client.get("/v1/interactions?drugs=B01A,N02B", headers=successor).status_code == 401
    assert client.post(f"{URL}/{created['id']}/rotate", headers=admin).status_code == 404


@pytest.mark.parametrize("path", ["", "/00000000-0000-0000-0000-000000000000/revoke"])
def test_clinicians_cannot_manage_keys(
    client: TestClient, clinician: dict[str, str], path: str
) -> None:
    method = client.get if not path else client.post
    assert method(URL + path, headers=clinician).status_code == 403


def test_last_used_is_written_at_most_once_a_minute(
    client: TestClient, clinician: dict[str, str], session: Session
) -> None:
    for _ in range(3):
        assert client.get("/v1/interactions?drugs=B01A,N02B", headers=clinician).is_success
    [row] = [k for k in session.query(ApiKey).all() if k.role == "clinician"]
    first = row.last_used_at
    assert first is not None
    client.get("/v1/interactions?drugs=B01A,N02B", headers=clinician)
    session.refresh(row)
    assert row.last_used_at == first
