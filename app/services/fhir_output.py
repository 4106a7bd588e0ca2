"""FHIR R4 resources MedRec sends, each validated with its ``fhir.resources`` R4B model.

- a recommended ATC3 class is a ``MedicationRequest`` with ``status: draft`` and
  ``intent: proposal`` (never an order: a clinician decides);
- an interacting pair is a ``DetectedIssue`` (code ``DRG``, drug interaction alert) whose
  ``severity`` is the pair's level (:mod:`app.services.pair_checks`) and whose ``implicated``
  are both requests;
- an error is an ``OperationOutcome``.

Each resource is validated on its own and sent as built (validating ~0.15 ms a
MedicationRequest; validating the whole Bundle again, or serialising through the models, costs
several times more and adds nothing: the envelope is a fixed shape).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from app.contract import fhir
from app.services.pair_checks import PairCheck

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# OperationOutcome issue codes by HTTP status (http://hl7.org/fhir/issue-type).
_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
                409: "conflict", 412: "incomplete", 413: "too-long", 422: "invalid",
                429: "throttled", 503: "transient"}  # fmt: skip


def urn() -> str:
    """A fresh ``urn:uuid:`` for a Bundle entry's ``fullUrl``."""
    return f"urn:uuid:{uuid.uuid4()}"


def atc_concept(atc3: str, display: str | None) -> dict[str, Any]:
    """The CodeableConcept of an ATC3 class."""
    coding = {"system": fhir.ATC, "code": atc3, **({"display": display} if display else {})}
    return {"coding": [coding], "text": display or atc3}


def proposal(atc3: str, display: str | None, patient: str | None, note: str) -> dict[str, Any]:
    """A recommended class as a ``MedicationRequest`` proposal (validated)."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": atc_concept(atc3, display),
        "subject": {"reference": f"Patient/{patient}" if patient else "Patient/unknown"},
        "note": [{"text": note}],
    }
    MedicationRequest.model_validate(resource)
    return resource


def detected_issue(check: PairCheck, implicated: Sequence[str], detail: str) -> dict[str, Any]:
    """An interacting pair as a ``DetectedIssue`` naming both requests (validated)."""
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "status": "preliminary",
        "code": {
            "coding": [{"system": ACT_CODE, "code": "DRG", "display": "Drug Interaction Alert"}]
        },  # fmt: skip
        "severity": check.level,
        "implicated": [{"reference": ref} for ref in implicated],
        "detail": detail,
    }
    DetectedIssue.model_validate(resource)
    return resource


def operation_outcome(status: int, detail: str, expressions: Sequence[str] = ()) -> dict[str, Any]:
    """An error as an ``OperationOutcome``: one issue, or one per invalid field (validated)."""
    code = _ISSUE_CODES.get(status, "exception")
    issues = [
        {"severity": "error", "code": code, "diagnostics": detail, "expression": [e]}
        for e in expressions
    ] or [{"severity": "error", "code": code, "diagnostics": detail}]
    resource = {"resourceType": "OperationOutcome", "issue": issues}
    OperationOutcome.model_validate(resource)
    return resource


def collection(resources: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A ``collection`` Bundle of ``(fullUrl, resource)`` entries."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": url, "resource": r} for url, r in resources],
    }
