"""``POST /v1/recommendations`` with FHIR: a Bundle in, a Bundle (or JSON) out, OperationOutcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.orm import Session

from app.crud.ddi import DdiRow, load_interactions
from app.crud.vocab import VocabRow, load_vocab
from tests.app import cds_fixtures as fx
from tests.app.factories import patient

URL = "/v1/recommendations"
FHIR = "application/fhir+json"
ATC = "http://www.whocc.no/atc"


def _bundle() -> dict[str, Any]:
    """A patient with a past and a current encounter, as an EHR would export them."""
    contained = {"resourceType": "MedicationRequest", "id": "m-ref", "status": "completed",
                 "intent": "order", "subject": {"reference": "Patient/1288992"},
                 "encounter": {"reference": "Encounter/e-old"},
                 "contained": [{"resourceType": "Medication", "id": "med1",
                                "code": {"coding": [{"system": ATC, "code": "C07AB02"}]}}],
                 "medicationReference": {"reference": "#med1"}}  # fmt: skip
    procedure = {"resourceType": "Procedure", "id": "p1", "status": "completed",
                 "subject": {"reference": "Patient/1288992"},
                 "encounter": {"reference": "Encounter/89284"},
                 "code": {"coding": [{"system": fx.ICD9, "code": "96.04"}]}}  # fmt: skip
    resources = [
        {"resourceType": "Patient", "id": "1288992"},
        fx.encounter("e-old", "2024-01-02T10:00:00Z"), fx.encounter("89284", "2025-03-04"),
        fx.condition("c1", "401.9", "e-old"), fx.condition("c2", "250.00", "e-old"),
        fx.condition("c3", "428.0", "89284"), fx.condition("c4", "401.9", "89284"), procedure,
        fx.med_request("m1", "855332", "Warfarin", status="completed", encounter="e-old"),
        fx.med_request("m2", "866924", "Metoprolol", intent="proposal", encounter="e-old"),
        contained,
    ]  # fmt: skip
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


# The same patient in MedRec's JSON: the proposal is not a past medication.
JSON_BODY = {
    "visits": [
        {
            "diagnoses": [
                {"system": "icd9cm", "code": "401.9"},
                {"system": "icd9cm", "code": "250.00"},
            ],
            "medications": [{"system": "rxnorm", "code": "855332"}, "C07AB02"],
        },
        {
            "diagnoses": [
                {"system": "icd9cm", "code": "428.0"},
                {"system": "icd9cm", "code": "401.9"},
            ],
            "procedures": [{"system": "icd9proc", "code": "96.04"}],
        },
    ]
}


@pytest.fixture
def known(session: Session) -> None:
    load_vocab(session=session, rows=[VocabRow("rxnorm", "855332", "B01A"),
               VocabRow("atc", "B01A", "B01A", "Antithrombotic agents")],
               source_version="t", replace=False)  # fmt: skip
    rows = [DdiRow("C07A", "N02B", ("bradycardia",), "high", "kb")]
    load_interactions(session=session, rows=rows, source_version="1", replace=False)


def _post(client: TestClient, body: dict[str, Any], headers: dict[str, str], **extra: str) -> Any:
    return client.post(URL, json=body, headers={**headers, **extra})


@pytest.mark.usefixtures("known")
def test_bundle_round_trip(client: TestClient, clinician: dict[str, str]) -> None:
    fhir_headers = {"Content-Type": FHIR, "Accept": FHIR}
    r = client.post(URL, content=_json(_bundle()), headers={**clinician, **fhir_headers})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == FHIR
    bundle = r.json()
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    proposals = {e["fullUrl"]: e["resource"] for e in bundle["entry"]
                 if e["resource"]["resourceType"] == "MedicationRequest"}  # fmt: skip
    as_json = _post(client, JSON_BODY, clinician).json()
    assert [p["medicationCodeableConcept"]["coding"][0]["code"] for p in proposals.values()] == [
        m["atc3"] for m in as_json["medications"]
    ]  # the same answer as the equivalent JSON request
    for p in proposals.values():
        assert (p["status"], p["intent"]) == ("draft", "proposal")
        assert p["subject"] == {"reference": "Patient/1288992"}
        assert "probability" in p["note"][0]["text"]
    [issue] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] ==
               "DetectedIssue"]  # fmt: skip
    assert issue["severity"] == "high"
    implicated = [ref["reference"] for ref in issue["implicated"]]
    assert len(implicated) == 2 and set(implicated) <= set(proposals)
    codes = {proposals[u]["medicationCodeableConcept"]["coding"][0]["code"] for u in implicated}
    assert codes == {"C07A", "N02B"} and "bradycardia" in issue["detail"]
    assert kinds[-1] == "OperationOutcome"  # the synthetic-model note


@pytest.mark.usefixtures("known")
def test_a_bundle_can_be_answered_in_json(client: TestClient, clinician: dict[str, str]) -> None:
    r = client.post(URL, content=_json(_bundle()), headers={**clinician, "Content-Type": FHIR})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["medications"] == _post(client, JSON_BODY, clinician).json()["medications"]


def test_json_can_be_answered_as_a_bundle(client: TestClient, clinician: dict[str, str]) -> None:
    r = _post(client, JSON_BODY, clinician, Accept=FHIR)
    assert r.status_code == 200 and r.json()["resourceType"] == "Bundle"


def test_errors_are_operation_outcomes_without_values(
    client: TestClient, clinician: dict[str, str]
) -> None:
    bad = {"visits": [{"diagnoses": [{"system": "icd9cm", "code": "SECRET$1"}]}]}
    r = _post(client, bad, clinician, Accept=FHIR)
    assert r.status_code == 422 and r.headers["content-type"] == FHIR
    assert "SECRET$1" not in r.text
    issue = r.json()["issue"][0]
    assert issue["code"] == "invalid" and issue["expression"] == ["visits[0].diagnoses[0].code"]
    # Refused before its body is read (app.api.gate drops the body headers): Accept decides.
    r = client.post(URL, content=_json(_bundle()), headers={"Content-Type": FHIR, "Accept": FHIR})
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "login"


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize("target", [0.0, 0.2, 1.0])
def test_max_ddi_rate_shrinks_the_bundle_as_it_does_the_json_answer(
    client: TestClient, clinician: dict[str, str], session: Session, target: float
) -> None:
    pairs = [("B01A", "N02B"), ("A02B", "B01A"), ("B01A", "C07A"), ("C09A", "N02B")]
    rows = [DdiRow(a, b, ("t",), "high", "kb") for a, b in pairs]
    load_interactions(session=session, rows=rows, source_version="1", replace=False)
    body = {**patient(3), "threshold": 0.0, "max_ddi_rate": target}  # 5 meds, 4 of 10 pairs known
    as_json = _post(client, body, clinician).json()
    r = _post(client, body, clinician, Accept=FHIR)
    assert r.status_code == 200, r.text
    bundle = r.json()
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    proposed = [p["medicationCodeableConcept"]["coding"][0]["code"] for p in resources
                if p["resourceType"] == "MedicationRequest"]  # fmt: skip
    assert proposed == [m["atc3"] for m in as_json["medications"]]
    issues = [i for i in resources if i["resourceType"] == "DetectedIssue"]
    assert len(issues) == sum(p["known"] for p in as_json["ddi"]["pairs"])
    limit = as_json["ddi_limit"]
    assert (limit["rate_before"], len(limit["dropped"]) > 0) == (0.4, target < 0.4)
    [outcome] = [o for o in resources if o["resourceType"] == "OperationOutcome"]
    notes = [i["diagnostics"] for i in outcome["issue"]]
    assert f"max_ddi_rate {target:g}: known-DDI rate 0.400 before, " in "\n".join(notes)
    dropped = [n for n in notes if n.startswith("dropped ")]
    assert [n.split()[1] for n in dropped] == [d["atc3"] for d in limit["dropped"]]
    assert not set(proposed) & {d["atc3"] for d in limit["dropped"]}
