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
from app.contract.visits import RawVisit
from app.services.vocab_snapshot import MappedCode, UnmappedCode, VocabView


@dataclass(frozen=True)
class FhirMedication:
    """A MedicationRequest's medication: its id, ATC3 classes and how it was coded."""

    resource_id: str | None
    atc3: tuple[str, ...]
    coding: dict[str, Any] | None  # the coding that mapped (or the first one), for display
    unmapped: UnmappedCode | None = None


@dataclass
class FhirVisits:
    """The visits of a patient's resources, plus what could not be used."""

    visits: list[RawVisit]
    unmapped: list[UnmappedCode] = field(default_factory=list)
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
    first_unmapped: UnmappedCode | None = None
    for uri in (fhir.ATC, fhir.RXNORM, fhir.NDC):
        for coding in codings:
            if coding.get("system") != uri:
                continue
            found = vocab.resolve(fhir.MEDICATION_URIS[uri], str(coding.get("code") or ""))
            if isinstance(found, MappedCode):
                return FhirMedication(resource.get("id"), found.atc3, coding)
            first_unmapped = first_unmapped or found
    unmapped = first_unmapped or UnmappedCode("unknown", "", "no_atc_mapping")
    return FhirMedication(resource.get("id"), (), codings[0] if codings else None, unmapped)


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
    """Group ``resources`` into visits for a recommender knowing ``known_systems`` per field."""
    encounters = sorted(
        (r for r in resources if r.get("resourceType") == "Encounter" and r.get("id")),
        key=lambda r: str((r.get("period") or {}).get("start") or ""),
    )
    order = [str(e["id"]) for e in encounters if e["id"] != current_encounter]
    current = current_encounter or (order.pop() if order else None)
    slots: dict[str | None, dict[str, list[Any]]] = {
        key: {"diagnoses": [], "procedures": [], "medications": []} for key in [*order, current]
    }
    out = FhirVisits(visits=[], patient=_patient(resources))
    meds = medications_by_id(resources)
    ignored = 0
    for res in resources:
        kind = res.get("resourceType")
        visit = fhir.reference_id(res.get("encounter"), "Encounter")
        slot = slots.get(visit, slots[current])
        if kind == "Condition" and not fhir.condition_dropped(res):
            code = _code(res, fhir.DIAGNOSIS_URIS, known_systems["diagnoses"])
            ignored += code is None
            slot["diagnoses"] += [code] if code else []
        elif kind == "Procedure" and not fhir.procedure_dropped(res):
            code = _code(res, fhir.PROCEDURE_URIS, known_systems["procedures"])
            ignored += code is None
            slot["procedures"] += [code] if code else []
        elif kind == "MedicationRequest" and fhir.request_is_label(res):
            med = medication_of(res, vocab, meds)
            slot["medications"] += list(med.atc3)
            out.unmapped += [med.unmapped] if med.unmapped else []
    out.visits = [RawVisit(**slots[key]) for key in [*order, current]]
    if ignored:
        out.warnings.append(f"{ignored} Condition/Procedure resources had no coding of a known "
                            "system and were ignored")  # fmt: skip
    return out


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
