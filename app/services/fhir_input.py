"""FHIR R4 resources (a request Bundle, a CDS Hooks prefetch) as visits and ATC3 medications.

Visits are the Encounters, oldest first (``period.start``); the current visit, the one to
recommend for, is ``current_encounter`` when given (CDS Hooks ``context.encounterId``), else the
newest. Conditions, Procedures and MedicationRequests join their visit through ``encounter``;
those without one (or naming an Encounter not sent) join the current visit. Without any
Encounter everything is one visit. Which resources count is ``app.contract.fhir``'s rule, the
same the training reader applies (refuted Conditions, cancelled or proposed requests are left out).

A Condition or Procedure gives one code: its first coding in a system the model knows, in
``app.contract.fhir`` preference order (ICD before SNOMED), else its first coding of a known
system (then listed as unknown by the recommender). Codings of no known system are counted in a
warning. A medication maps to ATC3 through its ATC, RxNorm or NDC coding
(:meth:`~app.services.vocab_snapshot.VocabView.resolve`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.contract import fhir
from app.schemas.interactions import MedicationCodeIn
from app.schemas.recommendations import DiagnosisIn, ProcedureIn, VisitIn
from app.services.vocab_snapshot import MappedCode, VocabView


@dataclass(frozen=True)
class FhirMedication:
    """A MedicationRequest's medication: its ATC3 classes and how it was coded."""

    atc3: tuple[str, ...]
    coding: dict[str, Any] | None  # the coding that mapped, else the first of a known system


@dataclass
class FhirVisits:
    """The visits of a patient's resources, as a request would send them."""

    visits: list[VisitIn]
    warnings: list[str] = field(default_factory=list)
    patient: str | None = None


def bundle_resources(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries (searchset or collection)."""
    entries = bundle.get("entry") or []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(
        e.get("resource"), dict)]  # fmt: skip


def medication_of(
    resource: dict[str, Any], vocab: VocabView, medications: dict[str, dict[str, Any]]
) -> FhirMedication:
    """Map one MedicationRequest to ATC3 (ATC, then RxNorm, then NDC codings)."""
    concept = fhir.medication_concept(resource, medications) or {}
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    known = [c for uri in fhir.MEDICATION_URIS for c in codings if c.get("system") == uri]
    for coding in known:
        system = fhir.MEDICATION_URIS[str(coding["system"])]
        found = vocab.resolve(system, str(coding.get("code") or ""))
        if isinstance(found, MappedCode):
            return FhirMedication(found.atc3, coding)
    return FhirMedication((), known[0] if known else None)


def medications_by_id(resources: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Medication resources by id, for ``medicationReference``."""
    return {
        r["id"]: r
        for r in resources
        if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str)
    }


def visits_of(
    resources: list[dict[str, Any]],
    *,
    vocab: VocabView,
    known_systems: Mapping[str, set[str]],
    current_encounter: str | None = None,
) -> FhirVisits:
    """Group ``resources`` into visits for a recommender knowing ``known_systems`` per field.

    The visits are built without validation (``model_construct``): FHIR codes need not fit the
    JSON API's patterns, and every consumer normalises each code and lists the ones it cannot
    use (:class:`~app.inference.recommender.Recommender`, :func:`.medication_codes.resolve`).
    """
    encounters = sorted(
        (r for r in resources if r.get("resourceType") == "Encounter" and r.get("id")),
        key=lambda r: str((r.get("period") or {}).get("start") or ""),
    )
    order = [str(e["id"]) for e in encounters if e["id"] != current_encounter]
    current = current_encounter or (order.pop() if order else None)
    slots: dict[str | None, dict[str, list[Any]]] = {
        key: {"diagnoses": [], "procedures": [], "medications": []} for key in [*order, current]
    }
    meds = medications_by_id(resources)
    ignored = 0
    for res in resources:
        kind = res.get("resourceType")
        slot = slots.get(fhir.reference_id(res.get("encounter"), "Encounter"), slots[current])
        if kind == "Condition" and not fhir.condition_dropped(res):
            code = _code(res, fhir.DIAGNOSIS_URIS, known_systems["diagnoses"])
            ignored += code is None
            slot["diagnoses"] += (
                [DiagnosisIn.model_construct(system=code[0], code=code[1])] if code else []
            )
        elif kind == "Procedure" and not fhir.procedure_dropped(res):
            code = _code(res, fhir.PROCEDURE_URIS, known_systems["procedures"])
            ignored += code is None
            slot["procedures"] += (
                [ProcedureIn.model_construct(system=code[0], code=code[1])] if code else []
            )
        elif kind == "MedicationRequest" and fhir.request_is_label(res):
            slot["medications"].append(_medication_code(res, vocab, meds))
    out = FhirVisits(
        visits=[
            VisitIn.model_construct(
                diagnoses=slots[key]["diagnoses"],
                procedures=slots[key]["procedures"],
                medications=slots[key]["medications"],
            )
            for key in [*order, current]
        ],
        patient=_patient(resources),
    )
    if ignored:
        out.warnings.append(f"{ignored} Condition/Procedure resources had no coding of a known "
                            "system and were ignored")  # fmt: skip
    return out


def _medication_code(
    res: dict[str, Any], vocab: VocabView, meds: dict[str, dict[str, Any]]
) -> MedicationCodeIn:
    """The request's medication as ``{system, code}``: the coding that maps, else the first."""
    med = medication_of(res, vocab, meds)
    coding = med.coding or {}
    system = fhir.MEDICATION_URIS.get(str(coding.get("system")), "rxnorm")
    return MedicationCodeIn.model_construct(
        system=system,  # type: ignore[arg-type]  # one of MEDICATION_URIS' names
        code=str(coding.get("code") or ""),
    )


def _code(res: dict[str, Any], uris: dict[str, str], known: set[str]) -> tuple[str, str] | None:
    codings = [c for c in (res.get("code") or {}).get("coding") or [] if isinstance(c, dict)]
    candidates = [
        (uris[c["system"]], str(c.get("code") or "")) for c in codings if c.get("system") in uris
    ]
    ranked = sorted(candidates, key=lambda c: list(uris.values()).index(c[0]))
    return next((c for c in ranked if c[0] in known), ranked[0] if ranked else None)


def _patient(resources: list[dict[str, Any]]) -> str | None:
    for res in resources:
        if res.get("resourceType") == "Patient" and isinstance(res.get("id"), str):
            return str(res["id"])
        found = fhir.reference_id(res.get("subject"), "Patient")
        if found:
            return found
    return None
