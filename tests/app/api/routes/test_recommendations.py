from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.deps import get_app_settings
from app.crud.ddi import DdiRow, load_interactions
from app.settings import Settings
from tests.app.factories import patient

URL = "/v1/recommendations"


def test_recommendation_has_model_meds_evidence_ddi(
    client: TestClient, clinician: dict[str, str], session: Session
) -> None:
    load_interactions(
        session=session,
        rows=[DdiRow("B01A", "N02B", ("bleeding",), "high", "test-kb")],
        source_version="1",
        replace=False,
    )
    body = {**patient(3), "threshold": 0.0}
    r = client.post(URL, json=body, headers=clinician)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["model"]["name"] == "gamenet" and data["model"]["version"] == 1
    assert len(data["model"]["sha256"]) == 64 and data["model"]["synthetic"] is True
    assert data["model"]["intended_use"] and data["model"]["metrics"]["test"]["jaccard"]
    meds = data["medications"]
    assert [m["probability"] for m in meds] == sorted(
        (m["probability"] for m in meds), reverse=True
    )
    assert any(m["evidence"] for m in meds)
    pairs = {(p["atc3_a"], p["atc3_b"]): p for p in data["ddi"]["pairs"]}
    n = len(meds)
    assert len(pairs) == n * (n - 1) // 2
    known = pairs[("B01A", "N02B")]
    assert known["known"] and known["severity"] == "high"
    assert known["interactions"][0]["source"] == "test-kb"
    assert known["predicted_risk"] is None and known["model"] is None
    assert data["ddi"]["ddi_rate"] == 1 / len(pairs)
    assert data["unknown_codes"] == []
    assert any("not for clinical use" in w.lower() for w in data["warnings"])


def test_unknown_codes_and_top_k(client: TestClient, clinician: dict[str, str]) -> None:
    body = patient(2)
    body["visits"][-1]["diagnoses"].append({"system": "icd10cm", "code": "Z99.89"})
    body["top_k"] = 1
    body["threshold"] = 0.0
    r = client.post(URL, json=body, headers=clinician)
    assert r.status_code == 200, r.text
    assert len(r.json()["medications"]) == 1
    [unknown] = r.json()["unknown_codes"]
    assert unknown == {
        "visit": 1,
        "field": "diagnoses",
        "index": 2,
        "system": "icd10cm",
        "code": "Z9989",
        "reason": "not_in_model_vocabulary",
    }


def test_model_selection(client: TestClient, clinician: dict[str, str]) -> None:
    assert client.post(URL, json={**patient(), "model": "gamenet@1"}, headers=clinician).is_success
    r = client.post(URL, json={**patient(), "model": "gamenet@2"}, headers=clinician)
    assert r.status_code == 404
    r = client.post(URL, json={**patient(), "model": "gbert"}, headers=clinician)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_validation_errors_name_fields_without_echoing_values(
    client: TestClient, clinician: dict[str, str]
) -> None:
    secret = "V8$SECRET"
    body = {
        "visits": [{"diagnoses": [{"system": "icd9cm", "code": secret}], "extra": "PHI-NAME"}],
        "top_k": 0,
    }
    r = client.post(URL, json=body, headers=clinician)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert secret not in r.text and "PHI-NAME" not in r.text
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert ("body", "visits", 0, "diagnoses", 0, "code") in locs
    assert ("body", "visits", 0) in locs and "PHI-NAME" not in r.text
    assert ("body", "top_k") in locs


def test_visit_and_code_limits(client: TestClient, clinician: dict[str, str]) -> None:
    visit = {"diagnoses": [{"system": "icd9cm", "code": "4019"}]}
    r = client.post(URL, json={"visits": [visit] * 101}, headers=clinician)
    assert r.status_code == 422
    many = {"diagnoses": [{"system": "icd9cm", "code": "4019"}] * 501}
    r = client.post(URL, json={"visits": [many]}, headers=clinician)
    assert r.status_code == 422
    # The defaults (bench/request_limits.py): 20 visits, 40 codes a visit.
    assert client.post(URL, json={"visits": [visit] * 21}, headers=clinician).status_code == 422
    assert client.post(URL, json={"visits": [visit] * 20}, headers=clinician).is_success
    forty = {**visit, "procedures": [{"system": "icd9proc", "code": "3893"}] * 39}
    assert client.post(URL, json={"visits": [forty]}, headers=clinician).is_success
    forty["procedures"] = forty["procedures"] * 2  # 1 + 78 codes
    assert client.post(URL, json={"visits": [forty]}, headers=clinician).status_code == 422


def test_server_limits_from_settings(
    app: FastAPI, client: TestClient, clinician: dict[str, str], settings: Settings
) -> None:
    strict = settings.model_copy(update={"max_visits": 2, "max_codes_per_visit": 3})
    app.dependency_overrides[get_app_settings] = lambda: strict
    r = client.post(URL, json=patient(3), headers=clinician)
    assert r.status_code == 422 and "limits" in r.json()["detail"]
    assert client.post(URL, json=patient(2), headers=clinician).status_code == 200
