from __future__ import annotations

import pytest

from app.contract import fhir


@pytest.mark.parametrize(
    ("resource", "dropped"),
    [
        ({}, False),
        ({"verificationStatus": {"coding": [{"code": "confirmed"}]}}, False),
        ({"clinicalStatus": {"coding": [{"code": "resolved"}]}}, False),
        ({"verificationStatus": {"coding": [{"code": "refuted"}]}}, True),
        ({"verificationStatus": {"coding": [{"code": "entered-in-error"}]}}, True),
        ({"clinicalStatus": {"coding": [{"code": "entered-in-error"}]}}, True),
    ],
)
def test_condition_rule(resource: dict[str, object], dropped: bool) -> None:
    assert fhir.condition_dropped(resource) is dropped


@pytest.mark.parametrize(
    ("status", "intent", "label"),
    [
        ("completed", "order", True),
        ("active", "original-order", True),
        ("stopped", "order", True),
        ("active", "proposal", False),
        ("active", "plan", False),
        ("cancelled", "order", False),
        ("draft", "order", False),
        (None, None, False),
    ],
)
def test_request_rule(status: str | None, intent: str | None, label: bool) -> None:
    assert fhir.request_is_label({"status": status, "intent": intent}) is label


def test_medication_concept_from_the_request_contained_or_by_id() -> None:
    concept = {"coding": [{"system": fhir.ATC, "code": "C07AB02"}]}
    assert fhir.medication_concept({"medicationCodeableConcept": concept}, {}) == concept
    contained = {"contained": [{"resourceType": "Medication", "id": "m", "code": concept}],
                 "medicationReference": {"reference": "#m"}}  # fmt: skip
    assert fhir.medication_concept(contained, {}) == concept
    by_id = {"medicationReference": {"reference": "https://ehr.example/fhir/Medication/7"}}
    assert fhir.medication_concept(by_id, {"7": {"code": concept}}) == concept
    assert fhir.medication_concept(by_id, {}) is None
