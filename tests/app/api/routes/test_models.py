from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.admin import create_key, session_scope
from app.api.deps import get_registry
from app.db.models import ModelVersion
from app.inference.registry import ModelRegistry
from app.main import create_app
from app.settings import Settings
from tests.app.factories import patient, write_pair_risk_artifact, write_recommender_artifact

URL = "/v1/models"


@pytest.fixture
def artifacts(settings: Settings) -> Path:
    """A fresh directory under the server's artifacts directory (the API registers only there)."""
    out = settings.artifacts_dir / uuid.uuid4().hex
    out.mkdir(parents=True)
    return out


def test_register_activate_and_roll_back(
    client: TestClient, admin: dict[str, str], registry: ModelRegistry, artifacts: Path
) -> None:
    write_recommender_artifact(artifacts / "v7", version=7)
    write_recommender_artifact(artifacts / "v8", version=8, seed=1)
    r = client.post(URL, json={"path": str(artifacts / "v7"), "activate": True}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["loaded"]
    r = client.post(URL, json={"path": str(artifacts / "v8")}, headers=admin)
    assert r.json()["status"] == "registered" and not r.json()["loaded"]
    assert client.post(URL, json={"path": str(artifacts / "v8")}, headers=admin).status_code == 409
    r = client.post(f"{URL}/gamenet/versions/8/activate", headers=admin)
    assert r.status_code == 200 and registry.get("gamenet").version == 8
    r = client.post(f"{URL}/gamenet/versions/7/activate", headers=admin)  # rollback
    assert r.json()["status"] == "active" and registry.get("gamenet").version == 7
    listing = client.get(f"{URL}/gamenet", headers=admin).json()
    assert {(v["version"], v["status"]) for v in listing["data"]} == {
        (7, "active"),
        (8, "inactive"),
    }
    assert client.get(f"{URL}/gbert", headers=admin).status_code == 404
    assert client.get(URL, headers=admin).json()["count"] == 2


def test_tampered_artifact_is_refused_and_old_version_serves(
    client: TestClient,
    admin: dict[str, str],
    registry: ModelRegistry,
    artifacts: Path,
    session: Session,
) -> None:
    write_recommender_artifact(artifacts / "v5", version=5, seed=2)
    assert client.post(URL, json={"path": str(artifacts / "v5")}, headers=admin).status_code == 201
    onnx = artifacts / "v5" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\x00")
    r = client.post(f"{URL}/gamenet/versions/5/activate", headers=admin)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert "sha256" in r.json()["detail"]
    assert registry.get("gamenet").version == 1
    row = session.query(ModelVersion).filter_by(version=5).one()
    assert row.status == "registered"


def test_register_rejects_non_artifacts(
    client: TestClient, admin: dict[str, str], artifacts: Path
) -> None:
    r = client.post(URL, json={"path": str(artifacts)}, headers=admin)
    assert r.status_code == 404 and "manifest" in r.json()["detail"]
    r = client.post(f"{URL}/gamenet/versions/99/activate", headers=admin)
    assert r.status_code == 404


def _wait_for_more(statuses: Counter[int], n: int) -> None:
    target = sum(statuses.values()) + n
    deadline = time.monotonic() + 20
    while sum(statuses.values()) < target and time.monotonic() < deadline:
        time.sleep(0.005)


def test_hot_swap_under_concurrent_requests_has_no_errors(
    settings: Settings, artifacts: Path, engine: object
) -> None:
    """Real sessions (no shared test transaction): requests in threads while versions swap."""
    registry = ModelRegistry()
    app = create_app(settings)
    app.dependency_overrides[get_registry] = lambda: registry
    clinician = {"X-API-Key": create_key(settings, role="clinician", name="swap")}
    admin = {"X-API-Key": create_key(settings, role="admin", name="swap")}
    for v in (101, 102):
        write_recommender_artifact(artifacts / f"v{v}", name="gbert", version=v, seed=v)
    statuses: Counter[int] = Counter()
    versions: Counter[int] = Counter()
    stop = threading.Event()
    with TestClient(app) as client:
        for v in (101, 102):
            r = client.post(URL, json={"path": str(artifacts / f"v{v}")}, headers=admin)
            assert r.status_code == 201, r.text
        assert client.post(f"{URL}/gbert/versions/101/activate", headers=admin).is_success

        def hammer() -> None:
            while not stop.is_set():
                r = client.post(
                    "/v1/recommendations", json={**patient(), "model": "gbert"}, headers=clinician
                )
                statuses[r.status_code] += 1
                if r.is_success:
                    versions[r.json()["model"]["version"]] += 1

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for v in (102, 101, 102):
            _wait_for_more(statuses, 8)
            r = client.post(f"{URL}/gbert/versions/{v}/activate", headers=admin)
            assert r.is_success, r.text
        _wait_for_more(statuses, 8)
        stop.set()
        for t in threads:
            t.join()
        final = client.post(
            "/v1/recommendations", json={**patient(), "model": "gbert"}, headers=clinician
        )
    assert set(statuses) == {200}, statuses
    assert set(versions) == {101, 102}
    assert final.json()["model"]["version"] == 102
    with session_scope(settings) as s:
        assert s.query(ModelVersion).filter_by(name="gbert", status="active").one().version == 102


def test_activating_a_malformed_genn_artifact_is_a_409(
    client: TestClient, admin: dict[str, str], artifacts: Path
) -> None:
    write_pair_risk_artifact(artifacts / "genn", version=4)
    manifest = json.loads((artifacts / "genn" / "manifest.json").read_text())
    del manifest["vocab"]["types"]
    (artifacts / "genn" / "manifest.json").write_text(json.dumps(manifest))
    r = client.post(URL, json={"path": str(artifacts / "genn")}, headers=admin)
    assert r.status_code == 201
    r = client.post(f"{URL}/genn/versions/4/activate", headers=admin)
    assert r.status_code == 409 and "types" in r.json()["detail"]
