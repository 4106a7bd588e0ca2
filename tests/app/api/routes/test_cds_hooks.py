from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.medicationrequest import MedicationRequest
from sqlalchemy.orm import Session

from app.crud.ddi import DdiRow, load_interactions
from app.crud.vocab import VocabRow, load_vocab
from app.inference.registry import ModelRegistry
from app.main import create_app
from app.settings import CdsClient, Settings
from tests.app import cds_fixtures as fx
from tests.app.conftest import inject, prepare
from tests.app.factories import write_pair_risk_artifact

BASE = "http://testserver/cds-services"
CHECK = f"{BASE}/medrec-medication-check"
RECOMMEND = f"{BASE}/medrec-recommend"


@pytest.fixture
def cds_app(
    settings: Settings, session: Session, registry: ModelRegistry, tmp_path: Path
) -> FastAPI:
    registry.install(prepare(registry, _genn(tmp_path)))
    trusted = settings.model_copy(update={"cds_clients": [CdsClient(iss=fx.ISS, jwks=fx.jwks())]})
    return inject(create_app(trusted), session, registry)


def _genn(tmp_path: Path) -> Path:
    write_pair_risk_artifact(tmp_path / "genn")
    return tmp_path / "genn"


@pytest.fixture
def cds(cds_app: FastAPI, session: Session) -> Iterator[TestClient]:
    load_vocab(session=session, rows=[
        VocabRow("rxnorm", "617993", "J01C"), VocabRow("rxnorm", "855332", "B01A"),
        VocabRow("rxnorm", "866924", "C07A"),
        VocabRow("atc", "B01A", "B01A", "Antithrombotic agents"),
    ], source_version="t", replace=False)  # fmt: skip
    load_interactions(session=session, rows=[
        DdiRow("B01A", "J01C", ("bleeding",), "moderate", "test-kb"),
        DdiRow("B01A", "C07A", ("hypotension",), "high", "test-kb"),
    ], source_version="1", replace=False)  # fmt: skip
    with TestClient(cds_app) as client:
        yield client


def _auth(aud: str, **changes: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {fx.token(aud, **changes)}"}


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def check_card_rules(card: dict[str, Any]) -> None:
    """The card rules of issue 13 and the CDS Hooks 2.0 Card schema."""
    for path, value in _walk(card):
        assert value is not None, f"null at {path}"
        assert value not in ("", [], {}), f"empty optional field at {path}"
    assert {"uuid", "summary", "indicator", "source"} <= card.keys()
    assert len(card["summary"]) <= 140
    assert card["indicator"] in {"critical", "warning", "info"}
    assert card["source"]["label"].startswith("MedRec (")
    assert card["detail"].startswith("**Pair:**") or "probability" in card["detail"]
    if "suggestions" in card:
        assert card["selectionBehavior"] in {"at-most-one", "any"}
        for s in card["suggestions"]:
            assert s["uuid"] and s["label"] and s["actions"]
    assert all({"system", "code", "display"} <= r.keys() for r in card["overrideReasons"])


def test_discovery_lists_both_services_with_prefetch(cds: TestClient) -> None:
    services = {(s["id"], s["hook"]): s for s in cds.get(BASE).json()["services"]}
    assert set(services) == {
        ("medrec-medication-check", "order-select"),
        ("medrec-medication-check", "order-sign"),
        ("medrec-recommend", "patient-view"),
    }
    assert services[("medrec-recommend", "patient-view")]["prefetch"]["conditions"] == (
        "Condition?patient={{context.patientId}}"
    )


def test_order_select_spec_example_checks_the_draft_against_active_medications(
    cds: TestClient,
) -> None:
    r = cds.post(CHECK, json=fx.order_select(), headers=_auth(CHECK))
    assert r.status_code == 200, r.text
    [card] = r.json()["cards"]
    check_card_rules(card)
    assert card["indicator"] == "warning"  # known, severity moderate
    assert "Antithrombotic agents (B01A)" in card["summary"] and "J01C" in card["summary"]
    assert "test-kb" in card["detail"] and "bleeding" in card["detail"]
    assert card["source"]["label"] == "MedRec (genn v1)"
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action == {"type": "delete", "description": action["description"],
                      "resourceId": ["MedicationRequest/smart-MedicationRequest-103"]}  # fmt: skip


def test_order_select_checks_only_the_selected_drafts(cds: TestClient) -> None:
    body = fx.order_select()
    body["context"]["selections"] = ["NutritionOrder/pureeddiet-simple"]
    assert cds.post(CHECK, json=body, headers=_auth(CHECK)).json() == {"cards": []}


def test_order_sign_checks_drafts_against_each_other_critical_first(cds: TestClient) -> None:
    body = fx.order_select()
    body["hook"] = "order-sign"
    del body["context"]["selections"]
    metoprolol = fx.med_request("draft-2", "866924", "Metoprolol", status="draft")
    warfarin = fx.med_request("draft-3", "855332", "Warfarin", status="draft")
    body["context"]["draftOrders"]["entry"] += [{"resource": metoprolol}, {"resource": warfarin}]
    body["prefetch"] = {"medications": fx.searchset()}
    cards = cds.post(CHECK, json=body, headers=_auth(CHECK)).json()["cards"]
    assert [c["indicator"] for c in cards] == ["critical", "warning"]
    for card in cards:
        check_card_rules(card)
    assert "Predicted risk (genn v1)" in cards[0]["detail"]  # both classes are in GENN's vocab
    removed = {a["resourceId"][0] for s in cards[0]["suggestions"] for a in s["actions"]}
    assert removed == {"MedicationRequest/draft-2", "MedicationRequest/draft-3"}


def test_patient_view_spec_example_with_prefetch_recommends(cds: TestClient) -> None:
    r = cds.post(RECOMMEND, json=fx.patient_view(fx.patient_record()), headers=_auth(RECOMMEND))
    assert r.status_code == 200, r.text
    [card] = r.json()["cards"]
    check_card_rules(card)
    assert card["selectionBehavior"] == "any" and "gamenet v1" in card["source"]["label"]
    assert "icd9cm 4280" in card["detail"]  # evidence: the current visit's diagnosis
    assert "25000" not in card["detail"]  # the refuted Condition is not used
    assert "NOT FOR CLINICAL USE" in card["detail"]
    for suggestion in card["suggestions"]:
        [action] = suggestion["actions"]
        assert action["type"] == "create"
        resource = MedicationRequest.model_validate(action["resource"])
        assert resource.intent == "proposal" and resource.subject.reference == "Patient/1288992"


def test_patient_view_without_prefetch_reads_the_fhir_server(cds: TestClient) -> None:
    record = fx.patient_record()
    routes = {
        "Encounter": record["encounters"],
        "Condition": record["conditions"],
        "Procedure": record["procedures"],
        "MedicationRequest": record["medications"],
    }
    with_prefetch = cds.post(RECOMMEND, json=fx.patient_view(record), headers=_auth(RECOMMEND))
    with fx.StubFhirServer(routes) as server:
        body = {**fx.patient_view(None), "fhirServer": server.url}
        r = cds.post(RECOMMEND, json=body, headers=_auth(RECOMMEND))
    assert r.status_code == 200, r.text
    assert {p for p, _ in server.seen} == {
        "/Condition?patient=1288992", "/Procedure?patient=1288992",
        "/MedicationRequest?patient=1288992", "/Encounter?patient=1288992",
    }  # fmt: skip
    assert {auth for _, auth in server.seen} == {"Bearer some-opaque-fhir-access-token"}
    [fetched], [sent] = r.json()["cards"], with_prefetch.json()["cards"]
    assert fetched["detail"] == sent["detail"]


def test_unavailable_prefetch_is_412_without_echoing_data(cds: TestClient) -> None:
    body = fx.patient_view(None)
    del body["fhirAuthorization"]
    r = cds.post(RECOMMEND, json=body, headers=_auth(RECOMMEND))
    assert r.status_code == 412 and "1288992" not in r.text
    with fx.StubFhirServer({}) as server:  # answers 404 to every search
        failing = {**fx.patient_view(None), "fhirServer": server.url}
        r = cds.post(RECOMMEND, json=failing, headers=_auth(RECOMMEND))
    assert r.status_code == 412 and "1288992" not in r.text


def test_malformed_calls_are_400_and_unknown_services_404(cds: TestClient) -> None:
    wrong_hook = {**fx.order_select(), "hook": "patient-view"}
    assert cds.post(CHECK, json=wrong_hook, headers=_auth(CHECK)).status_code == 400
    r = cds.post(CHECK, json={"hook": "order-select"}, headers=_auth(CHECK))
    assert r.status_code == 400 and "context" in r.json()["detail"]
    nowhere = f"{BASE}/nowhere"
    assert cds.post(nowhere, json=fx.order_select(), headers=_auth(nowhere)).status_code == 404


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("good RS384", lambda: _auth(CHECK)),
        ("good ES384", lambda: _auth(CHECK, alg="ES384", kid="ec-1")),
        ("no token", lambda: {}),
        ("expired", lambda: _auth(CHECK, iat=1_700_000_000, exp=1_700_000_300)),
        ("issued in the future", lambda: _auth(CHECK, iat=4_000_000_000, exp=4_000_000_100)),
        ("wrong aud", lambda: _auth(RECOMMEND)),
        ("wrong iss", lambda: _auth(CHECK, iss="https://evil.example.org")),
        ("no jti", lambda: _auth(CHECK, jti=None)),
        ("unknown kid", lambda: _auth(CHECK, kid="other")),
        ("RS256", lambda: _auth(CHECK, alg="RS256")),
        ("alg none", lambda: {"Authorization": f"Bearer {fx.forged(CHECK, 'none')}"}),
        (
            "HS256 with the public key",
            lambda: {"Authorization": f"Bearer {fx.forged(CHECK, 'HS256')}"},
        ),
    ],  # fmt: skip
)
def test_jwt_trust_matrix(cds: TestClient, case: str, headers: Any) -> None:
    r = cds.post(CHECK, json=fx.order_select(), headers=headers())
    expected = 200 if case.startswith("good") else 401
    assert r.status_code == expected, (case, r.text)
    if expected == 401:
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_replayed_jti_is_refused(cds: TestClient) -> None:
    headers = _auth(CHECK)
    assert cds.post(CHECK, json=fx.order_select(), headers=headers).status_code == 200
    again = cds.post(CHECK, json=fx.order_select(), headers=headers)
    assert again.status_code == 401 and "replayed" in again.json()["detail"]


def test_feedback_is_stored_and_listed_for_admins(
    cds: TestClient, admin: dict[str, str], clinician: dict[str, str]
) -> None:
    card = cds.post(CHECK, json=fx.order_select(), headers=_auth(CHECK)).json()["cards"][0]
    reason = card["overrideReasons"][0]
    feedback = {"feedback": [
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z",
         "overrideReason": {"reason": reason, "userComment": "patient name here"}},
        {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-01T10:01:00Z",
         "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]},
    ]}  # fmt: skip
    url = f"{CHECK}/feedback"
    r = cds.post(url, json=feedback, headers=_auth(url))
    assert r.status_code == 200 and r.json() == {"stored": 2}
    assert cds.get("/v1/cds-feedback", headers=clinician).status_code == 403
    listed = cds.get("/v1/cds-feedback?service=medrec-medication-check", headers=admin).json()
    assert listed["count"] == 2
    outcomes = {f["outcome"]: f for f in listed["data"]}
    assert outcomes["overridden"]["override_reason"] == reason
    assert outcomes["accepted"]["accepted_suggestions"] == [card["suggestions"][0]["uuid"]]
    assert "patient name here" not in str(listed)
