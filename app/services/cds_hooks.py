"""The two CDS Hooks services: what they declare, what they read and the cards they answer.

- ``medrec-medication-check`` (``order-select``, ``order-sign``): the draft MedicationRequests
  of ``context.draftOrders`` against each other and against the patient's active medications
  (prefetch ``medications``). On ``order-select`` only pairs involving a selected draft are
  checked (``context.selections``), as the hook intends; on ``order-sign`` all drafts.
- ``medrec-recommend`` (``patient-view``): a recommendation from the patient's Conditions,
  Procedures, MedicationRequests and Encounters (:mod:`app.services.fhir_input`).

Prefetch keys missing from the request are read from ``fhirServer`` with
``fhirAuthorization`` (:mod:`app.services.fhir_client`); without either, 412.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import ModelNotLoaded
from app.inference.registry import LoadedModel
from app.services import cds_cards
from app.services.ddi_snapshot import DdiTableView
from app.services.fhir_client import PrefetchUnavailable, render
from app.services.fhir_input import bundle_resources, medication_of, medications_by_id, visits_of
from app.services.medication_codes import prepare_visits
from app.services.pair_checks import check_pairs
from app.services.recommendations import SYNTHETIC_WARNING
from app.services.vocab_snapshot import VocabView

MEDICATION_CHECK = "medrec-medication-check"
RECOMMEND = "medrec-recommend"
_PATIENT = "patient={{context.patientId}}"
PREFETCH = {
    MEDICATION_CHECK: {"medications": f"MedicationRequest?{_PATIENT}&status=active"},
    RECOMMEND: {
        "conditions": f"Condition?{_PATIENT}",
        "procedures": f"Procedure?{_PATIENT}",
        "medications": f"MedicationRequest?{_PATIENT}",
        "encounters": f"Encounter?{_PATIENT}",
    },
}
SERVICES = [
    {
        "hook": hook,
        "id": MEDICATION_CHECK,
        "title": "MedRec drug-drug interaction check",
        "description": "Checks draft medication orders against each other and the patient's "
        "active medications: known interactions and GENN's predicted risk.",
        "prefetch": PREFETCH[MEDICATION_CHECK],
    }
    for hook in ("order-select", "order-sign")
] + [
    {
        "hook": "patient-view",
        "id": RECOMMEND,
        "title": "MedRec medication recommendation",
        "description": "Recommends medication classes (ATC3) from the patient's conditions and "
        "procedures, with the evidence codes and interaction risks of the set.",
        "prefetch": PREFETCH[RECOMMEND],
    }
]
HOOKS = {MEDICATION_CHECK: {"order-select", "order-sign"}, RECOMMEND: {"patient-view"}}
Fetcher = Callable[[str, str], dict[str, Any]]  # (key, rendered query) -> FHIR resource


@dataclass(frozen=True)
class CdsInputs:
    """What a service call works from: the worker's snapshots and the active models."""

    ddi: DdiTableView
    vocab: VocabView
    recommender: LoadedModel | None
    pair_model: LoadedModel | None


def prefetched(
    service_id: str, context: Mapping[str, Any], prefetch: Mapping[str, Any] | None,
    fetch: Fetcher | None,
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """The resources of each prefetch key: sent, else fetched; 412 when neither can be."""
    out = {}
    for key, template in PREFETCH[service_id].items():
        data = (prefetch or {}).get(key)
        if data is None:
            if fetch is None:
                raise PrefetchUnavailable(f"prefetch {key!r} is missing and no fhirServer with "
                                          "fhirAuthorization was given")  # fmt: skip
            data = fetch(key, render(template, context))
        if not isinstance(data, dict):
            raise PrefetchUnavailable(f"prefetch {key!r} is not a FHIR resource")
        out[key] = bundle_resources(data) if data.get("resourceType") == "Bundle" else [data]
    return out


def _label(*models: LoadedModel | None) -> str:
    named = [f"{m.name} v{m.version}" for m in models if m is not None]
    return "MedRec (" + (", ".join(named) or "DDI knowledge base") + ")"


def _model(pair_model: LoadedModel | None) -> str | None:
    return None if pair_model is None else f"{pair_model.name} v{pair_model.version}"


def medication_check(
    hook: str,
    context: Mapping[str, Any],
    resources: Mapping[str, list[dict[str, Any]]],
    inputs: CdsInputs,
) -> list[dict[str, Any]]:
    """Cards for the interacting pairs among the drafts and the active medications."""
    draft_resources = bundle_resources(context.get("draftOrders") or {})
    meds = medications_by_id([*draft_resources, *resources["medications"]])
    drafts = [r for r in draft_resources if r.get("resourceType") == "MedicationRequest"]
    selected = {s.rsplit("/", 1)[-1] for s in context.get("selections") or []}
    focus = [d for d in drafts if hook != "order-select" or d.get("id") in selected]
    active = [
        r
        for r in resources["medications"]
        if r.get("resourceType") == "MedicationRequest" and r.get("status") == "active"
    ]
    names: dict[str, str] = {}
    draft_ids: dict[str, list[str]] = {}
    classes = {}
    for role, group in (("focus", focus), ("draft", drafts), ("active", active)):
        found: set[str] = set()
        for res in group:
            med = medication_of(res, inputs.vocab, meds)
            found.update(med.atc3)
            for cls in med.atc3:
                display = inputs.vocab.display(cls) or (med.coding or {}).get("display")
                if display:
                    names.setdefault(cls, str(display))
                if role == "draft" and res.get("id"):
                    draft_ids.setdefault(cls, []).append(f"MedicationRequest/{res['id']}")
        classes[role] = found
    pairs = [(a, b) for a, b in itertools.product(classes["focus"],
             classes["draft"] | classes["active"])]  # fmt: skip
    predictor = None if inputs.pair_model is None else inputs.pair_model.pair_risk
    checks = check_pairs(inputs.ddi, predictor, pairs)
    label = _label(inputs.pair_model)
    return [
        cds_cards.interaction_card(
            c, names=names, drafts=draft_ids, label=label, model=_model(inputs.pair_model)
        )  # fmt: skip
        for c in sorted(checks, key=lambda c: ("high", "moderate", "low").index(c.level or "low"))
        if c.level is not None
    ]


def recommend_cards(
    context: Mapping[str, Any],
    resources: Mapping[str, list[dict[str, Any]]],
    inputs: CdsInputs,
) -> list[dict[str, Any]]:
    """The recommendation card for the patient's current visit (none when nothing qualifies)."""
    loaded = inputs.recommender
    if loaded is None or loaded.recommender is None:
        raise ModelNotLoaded("no recommendation model is loaded")
    everything = [r for group in resources.values() for r in group]
    found = visits_of(everything, vocab=inputs.vocab, known_systems=loaded.recommender.systems,
                      current_encounter=context.get("encounterId"))  # fmt: skip
    result = loaded.recommender.recommend(prepare_visits(found.visits, inputs.vocab).visits)
    drugs = [m.atc3 for m in result.medications]
    predictor = None if inputs.pair_model is None else inputs.pair_model.pair_risk
    checks = check_pairs(inputs.ddi, predictor, list(itertools.combinations(drugs, 2)))
    names = {d: n for d in drugs if (n := inputs.vocab.display(d))}
    warnings = [*found.warnings, *result.warnings]
    if loaded.manifest.synthetic:
        warnings.insert(0, SYNTHETIC_WARNING)
    card = cds_cards.recommendation_card(
        result, checks, names=names, patient=found.patient or context.get("patientId"),
        label=_label(loaded, inputs.pair_model), model=_model(inputs.pair_model),
        warnings=warnings,
    )  # fmt: skip
    return [] if card is None else [card]
