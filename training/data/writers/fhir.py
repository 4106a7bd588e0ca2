"""Write canonical Patients as a FHIR R4 Bulk Data export (one NDJSON file per resource type)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from app.contract.fhir import ATC, ICD9CM, ICD10CM, ICD10PCS, RXNORM, SNOMED
from training.data.records import Code, Patient, Visit
from training.data.writers.common import atc4_of, dotted, fake_rxcui, write_atc_map

URI = {"icd9cm": ICD9CM, "icd10cm": ICD10CM, "icd9proc": ICD9CM, "icd10pcs": ICD10PCS}
TYPES = ("Patient", "Encounter", "Condition", "Procedure", "MedicationRequest",
         "MedicationAdministration")  # fmt: skip
Resource = dict[str, Any]


def write_fhir_export(
    patients: Iterable[Patient],
    out_dir: Path,
    *,
    medication_coding: Literal["atc", "rxnorm"] = "atc",
    administrations: bool = False,
) -> Path | None:
    """Write ``out_dir/<ResourceType>.ndjson``; return the ``rxcui2atc.csv`` written, if any.

    Medications are MedicationRequests (or MedicationAdministrations with ``administrations``),
    coded in ATC (level 4) or in made-up RxNorm codes plus the mapping CSV.

    Raises:
        ValueError: if a visit has no time or a code is not ICD-9/ICD-10.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    atcs: set[str] = set()
    with ExitStack() as stack:
        files = {
            t: stack.enter_context(open(out_dir / f"{t}.ndjson", "w", encoding="utf-8"))
            for t in TYPES
        }
        for patient in patients:
            resources = [{"resourceType": "Patient", "id": patient.patient_id}]
            for visit in patient.visits:
                atcs.update(visit.medications)
                resources += _visit(patient, visit, medication_coding, administrations)
            for res in resources:
                files[res["resourceType"]].write(json.dumps(res, separators=(",", ":")) + "\n")
    if medication_coding == "atc":
        return None
    mapping = out_dir / "rxcui2atc.csv"
    write_atc_map(mapping, "rxcui", ((fake_rxcui(a), a) for a in atcs))
    return mapping


def _visit(
    patient: Patient, visit: Visit, coding: str, administrations: bool
) -> Iterator[Resource]:
    if visit.time is None:
        raise ValueError("write_fhir_export: every visit needs a time")
    subject = {"reference": f"Patient/{patient.patient_id}"}
    enc = {"reference": f"Encounter/{visit.visit_id}"}
    yield {
        "resourceType": "Encounter",
        "id": visit.visit_id,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": subject,
        "period": {"start": visit.time + "Z"},
    }
    for kind, codes in (("Condition", visit.diagnoses), ("Procedure", visit.procedures)):
        for code in codes:
            yield {
                "resourceType": kind,
                "subject": subject,
                "encounter": enc,
                "code": _concept(code),
                **_STATUS[kind],
            }
    kind = "MedicationAdministration" if administrations else "MedicationRequest"
    link: Resource = (
        {"context": enc, "effectiveDateTime": visit.time + "Z"}
        if administrations
        else {"encounter": enc}
    )
    for atc3 in visit.medications:
        med = (
            {"system": ATC, "code": atc4_of(atc3)}
            if coding == "atc"
            else {"system": RXNORM, "code": fake_rxcui(atc3)}
        )
        concept = {"coding": [med]}
        yield {
            "resourceType": kind,
            "subject": subject,
            **link,
            "medicationCodeableConcept": concept,
            **_STATUS[kind],
        }


# R4's required statuses, as an EHR records care given (app.contract.fhir keeps these).
_STATUS: dict[str, Resource] = {
    "Condition": {"verificationStatus": {"coding": [{"code": "confirmed"}]}},
    "Procedure": {"status": "completed"},
    "MedicationRequest": {"status": "completed", "intent": "order"},
    "MedicationAdministration": {"status": "completed"},
}


def _concept(code: Code) -> Resource:
    if code.system not in URI:
        raise ValueError(f"write_fhir_export: code system {code.system!r} is not ICD")
    snomed = {"system": SNOMED, "code": "1234567"}  # listed first: the reader must prefer ICD
    return {"coding": [snomed, {"system": URI[code.system], "code": dotted(code)}]}
