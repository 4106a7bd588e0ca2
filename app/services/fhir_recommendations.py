"""The recommendation as a FHIR R4 ``collection`` Bundle (``Accept: application/fhir+json``).

Entries, each validated with its ``fhir.resources`` R4B model (:mod:`app.services.fhir_output`):

- one ``MedicationRequest`` (``status: draft``, ``intent: proposal``) per recommended ATC3
  class, its ``note`` giving the probability and the evidence codes;
- one ``DetectedIssue`` per interacting pair of the set (a level in
  :mod:`app.services.pair_checks`), ``implicated`` naming both proposals;
- one ``OperationOutcome`` of ``information`` issues for the warnings and the codes that could
  not be used, when there are any.

Built from the service layer's results (the recommender's answer and the pair checks), not from
the JSON answer of ``/v1/recommendations``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome

from app.inference.recommender import ScoredMedication
from app.inference.registry import LoadedModel
from app.schemas.recommendations import RecommendationCreate
from app.services import fhir_output
from app.services.cds_cards import pair_detail
from app.services.ddi_snapshot import DdiTableView
from app.services.pair_checks import check_pairs
from app.services.recommendations import SYNTHETIC_WARNING, DdiLimit, score
from app.services.vocab_snapshot import VocabView


def recommendation_bundle(
    *,
    ddi: DdiTableView,
    vocab: VocabView,
    loaded: LoadedModel,
    pair_model: LoadedModel | None,
    request: RecommendationCreate,
    patient: str | None,
    max_medications: int,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """Score ``request`` with ``loaded``; the proposals, issues and notes as a Bundle.

    The proposals are the JSON answer's medications (:func:`app.services.recommendations.score`:
    at most ``max_medications``, ``max_ddi_rate`` applied); what the DDI limit dropped is noted.
    """
    result, limit = score(
        view=ddi, vocab=vocab, loaded=loaded, request=request, max_medications=max_medications
    )
    model = f"{loaded.name} v{loaded.version}"
    entries = [
        (fhir_output.urn(), fhir_output.proposal(m.atc3, vocab.display(m.atc3), patient,
                                                 _note(m, model)))
        for m in result.medications
    ]  # fmt: skip
    urls = {m.atc3: url for m, (url, _) in zip(result.medications, entries, strict=True)}
    predictor = None if pair_model is None else pair_model.pair_risk
    drugs = [m.atc3 for m in result.medications]
    names = {d: n for d in drugs if (n := vocab.display(d))}
    pair_model_name = None if pair_model is None else f"{pair_model.name} v{pair_model.version}"
    for check in check_pairs(ddi, predictor, list(itertools.combinations(drugs, 2))):
        if check.level is not None:
            issue = fhir_output.detected_issue(
                check, [urls[check.atc3_a], urls[check.atc3_b]],
                pair_detail(check, names, pair_model_name),
            )  # fmt: skip
            entries.append((fhir_output.urn(), issue))
    notes = [*([SYNTHETIC_WARNING] if loaded.manifest.synthetic else []), *warnings,
             *result.warnings]  # fmt: skip
    notes += [f"visit {u.visit} {u.field}[{u.index}]: {u.reason}" for u in result.unknown_codes]
    if limit is not None:
        notes += _limit_notes(limit)
    if notes:
        entries.append((fhir_output.urn(), _information(notes)))
    return fhir_output.collection(entries)


def _note(m: ScoredMedication, model: str) -> str:
    evidence = ", ".join(f"{e.system} {e.code} (+{e.contribution:.2f})" for e in m.evidence)
    return f"MedRec {model}: probability {m.probability:.2f}" + (
        f"; evidence: {evidence}" if evidence else ""
    )


def _limit_notes(limit: DdiLimit) -> list[str]:
    """What ``max_ddi_rate`` did, as the JSON answer's ``ddi_limit`` block says it."""
    notes = [
        f"max_ddi_rate {limit.max_ddi_rate:g}: known-DDI rate {limit.rate_before:.3f} before, "
        f"{limit.rate_after:.3f} after; {len(limit.dropped)} dropped"
    ]
    notes += [
        f"dropped {d.atc3} (probability {d.probability:.2f}; known to interact with "
        f"{', '.join(d.partners)}): rate {d.rate_before:.3f} -> {d.rate_after:.3f}"
        for d in limit.dropped
    ]
    return notes


def _information(notes: Sequence[str]) -> dict[str, Any]:
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": n}
                  for n in notes],
    }  # fmt: skip
    OperationOutcome.model_validate(resource)
    return resource
