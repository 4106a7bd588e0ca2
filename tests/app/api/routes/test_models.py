from __future__ import annotations

import base64
import html
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
from app.services.version_report import REPORT_CSP
from app.settings import Settings
from tests.app.factories import patient, write_pair_risk_artifact, write_recommender_artifact
from tests.app.services.report_fixture import BLUE, TABLE_ROWS, solid_png, write_report

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


def _versions_with_report(client: TestClient, admin: dict[str, str], artifacts: Path) -> Path:
    """gamenet v7 active, v8 registered with a report and a job's comparison; v8's directory."""
    write_recommender_artifact(artifacts / "v7", version=7)
    write_recommender_artifact(artifacts / "v8", version=8, seed=1)
    manifest = json.loads((artifacts / "v8" / "manifest.json").read_text())
    manifest["metrics"]["test"][HOSTILE] = {"mean": 0.5, "std": 0.02}
    (artifacts / "v8" / "manifest.json").write_text(json.dumps(manifest))
    write_report(artifacts / "v8")
    comparison = {
        "patients": 12,
        "visits": 30,
        "threshold": 0.3,
        "candidate": {"jaccard": {"point": 0.61}},
        "active": {"name": "gamenet", "version": 7, "jaccard": {"point": 0.58}},
        "gate": {"activate": False, "reasons": [f"{HOSTILE} worse"], "activated": False},
    }
    (artifacts / "v8" / "comparison.json").write_text(json.dumps(comparison))
    for version, activate in ((7, True), (8, False)):
        body = {"path": str(artifacts / f"v{version}"), "activate": activate}
        assert client.post(URL, json=body, headers=admin).status_code == 201
    return artifacts / "v8"


HOSTILE = "<img src=x onerror=alert(1)>"


def test_the_report_page_serves_the_report_beside_the_active_version(
    client: TestClient, admin: dict[str, str], artifacts: Path
) -> None:
    _versions_with_report(client, admin, artifacts)
    r = client.get(f"{URL}/gamenet/versions/8/report", headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == REPORT_CSP
    assert "script-src" not in REPORT_CSP and "default-src 'none'" in REPORT_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    page = r.text
    section = page[page.index('<section id="medrec-comparison">') : page.index("</section>")]
    assert page.index("<section") < page.index("<h1>Evaluation report</h1>")  # first in the body
    assert "<th>gamenet v8 (registered)</th><th>gamenet v7 (active)</th>" in section
    row = "<tr><td>test jaccard</td><td>0.4200 ± 0.0100</td><td>0.4200 ± 0.0100</td>"
    assert row + "<td>+0.0000</td></tr>" in section
    assert "<td>0.6100</td><td>0.5800</td>" in section and "keep active" in section
    assert HOSTILE not in page and html.escape(HOSTILE) in section  # a metric name, a reason
    blue = base64.b64encode(solid_png(BLUE)).decode()
    assert f'src="data:image/png;base64,{blue}"' in page and 'src="curves.png"' not in page
    for model, jaccard, prauc in TABLE_ROWS:  # the report itself, unchanged
        assert f"<tr><td>{model}</td><td>{jaccard}</td><td>{prauc}</td></tr>" in page


def test_the_active_version_s_report_names_it_active(
    client: TestClient, admin: dict[str, str], artifacts: Path
) -> None:
    _versions_with_report(client, admin, artifacts)
    assert client.post(f"{URL}/gamenet/versions/8/activate", headers=admin).status_code == 200
    page = client.get(f"{URL}/gamenet/versions/8/report", headers=admin).text
    assert "This version is the active one." in page and "(inactive)" not in page


def test_a_missing_version_or_report_is_a_404_problem(
    client: TestClient, admin: dict[str, str], artifacts: Path, tmp_path: Path
) -> None:
    v8 = _versions_with_report(client, admin, artifacts)
    for path, detail in (
        ("gamenet/versions/9/report", "gamenet v9 is not registered"),
        ("gamenet/versions/7/report", "gamenet v7 has no evaluation report"),
    ):
        r = client.get(f"{URL}/{path}", headers=admin)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == detail
    outside = tmp_path / "elsewhere.html"
    outside.write_text("<p>not this version's report</p>")
    (v8 / "report.html").unlink()
    (v8 / "report.html").symlink_to(outside)  # a link out of the artifact is not its report
    r = client.get(f"{URL}/gamenet/versions/8/report", headers=admin)
    assert r.status_code == 404 and "not this version" not in r.text
    assert client.get(f"{URL}/GAMENET/versions/8/report", headers=admin).status_code == 422
    assert client.get(f"{URL}/gamenet/versions/0/report", headers=admin).status_code == 422


def test_clinicians_cannot_read_reports(
    client: TestClient, admin: dict[str, str], clinician: dict[str, str], artifacts: Path
) -> None:
    _versions_with_report(client, admin, artifacts)
    assert client.get(f"{URL}/gamenet/versions/8/report", headers=clinician).status_code == 403
    assert client.get(f"{URL}/gamenet/versions/8/report").status_code == 401
