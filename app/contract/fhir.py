"""FHIR R4 facts both sides apply: coding-system URIs and which resources count.

The FHIR reader (``training/data/fhir.py``) learns from the same resources the service reads from
a request Bundle or a CDS Hooks prefetch, so the rules are written once, here:

- Condition: dropped when ``verificationStatus`` is ``refuted`` or ``entered-in-error``, or when
  ``clinicalStatus`` is ``entered-in-error`` (R4 has no such clinical status, but EHRs send it).
  Other statuses (``resolved``, ``inactive``, ``provisional``...) are kept: a resolved diagnosis
  was still a diagnosis of that visit.
- Procedure: dropped when ``status`` is ``entered-in-error`` or ``not-done``.
- MedicationRequest: a *label* (what was given) only when ``status`` is ``active``,
  ``completed``, ``on-hold`` or ``stopped`` (given, then stopped; ``cancelled`` never was) and
  ``intent`` is ``order``, ``original-order``, ``reflex-order``, ``filler-order`` or
  ``instance-order``. ``proposal`` and ``plan`` are suggestions, MedRec's
  own among them (it writes ``intent: proposal``), so learning from them would feed the model
  its own output.
"""

from __future__ import annotations

from typing import Any

ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
ICD10PCS_ALT = "http://hl7.org/fhir/sid/icd-10-pcs"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"

# Coding-system URI -> MedRec's system name, per resource; order is preference (ICD first).
DIAGNOSIS_URIS = {ICD10CM: "icd10cm", ICD9CM: "icd9cm", SNOMED: "snomed"}
PROCEDURE_URIS = {ICD10PCS: "icd10pcs", ICD10PCS_ALT: "icd10pcs", ICD9CM: "icd9proc",
                  SNOMED: "snomed"}  # fmt: skip
# Medication systems: ATC is used as is; RxNorm and NDC go through a loaded code map.
MEDICATION_URIS = {ATC: "atc", RXNORM: "rxnorm", NDC: "ndc"}

DROPPED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
DROPPED_PROCEDURE_STATUS = frozenset({"entered-in-error", "not-done"})
LABEL_REQUEST_STATUS = frozenset({"active", "completed", "on-hold", "stopped"})
LABEL_REQUEST_INTENT = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)


def status_code(concept: Any) -> str | None:
    """The first coding's ``code`` of a status CodeableConcept (``clinicalStatus``...)."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings or []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def condition_dropped(resource: dict[str, Any]) -> bool:
    """Whether a Condition is refuted or entered in error (see the module docstring)."""
    verification = status_code(resource.get("verificationStatus"))
    clinical = status_code(resource.get("clinicalStatus"))
    return verification in DROPPED_VERIFICATION or clinical == "entered-in-error"


def procedure_dropped(resource: dict[str, Any]) -> bool:
    """Whether a Procedure was entered in error or not done."""
    return resource.get("status") in DROPPED_PROCEDURE_STATUS


def request_is_label(resource: dict[str, Any]) -> bool:
    """Whether a MedicationRequest records a medication given (an order, not a proposal)."""
    return (
        resource.get("status") in LABEL_REQUEST_STATUS
        and resource.get("intent") in LABEL_REQUEST_INTENT
    )


def reference_id(ref: Any, kind: str) -> str | None:
    """The id in ``{"reference": "<kind>/<id>"}`` (relative or absolute URL), else ``None``."""
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str) or f"{kind}/" not in text:
        return None
    return text.rsplit(f"{kind}/", 1)[1].split("/", 1)[0] or None


def medication_concept(
    resource: dict[str, Any], medications: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The medication CodeableConcept of a MedicationRequest or MedicationAdministration.

    ``medicationCodeableConcept`` if present, else the ``code`` of the Medication that
    ``medicationReference`` names: a contained one (``#id``) or one of ``medications`` (Medication
    resources by id, from the same Bundle or export). ``None`` when neither resolves.
    """
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    ref = resource.get("medicationReference")
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str):
        return None
    if text.startswith("#"):
        contained = resource.get("contained") or []
        found = next(
            (c for c in contained if isinstance(c, dict) and c.get("id") == text[1:]), None
        )
    else:
        found = medications.get(reference_id(ref, "Medication") or "")
    code = found.get("code") if isinstance(found, dict) else None
    return code if isinstance(code, dict) else None
