"""CDS Hooks 2.0 cards, built from the service layer's results (pair checks, recommendations).

Rules every card keeps (the specification's, plus ours):

- ``summary`` is at most 140 characters (clipped with an ellipsis);
- ``indicator`` is ``critical``, ``warning`` or ``info`` from the pair's level
  (:mod:`app.services.pair_checks`: high, moderate, low); a recommendation card is ``info``,
  or ``warning`` when the recommended set holds a high-level pair;
- ``source.label`` names MedRec and the model version(s) behind the card;
- ``detail`` is Markdown: the pair, the known entries (source, severity, types), GENN's risk and
  types; for a recommendation, each class with its probability and evidence codes;
- ``suggestions``: remove a conflicting draft order (``delete`` of its id), or create a
  ``MedicationRequest`` proposal; ``selectionBehavior`` is set whenever there are suggestions;
- ``overrideReasons`` let the clinician say why a card was dismissed (sent back as feedback);
- no ``null`` anywhere: optional fields without a value are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from app.inference.recommender import Recommendation
from app.services.fhir_output import proposal
from app.services.pair_checks import PairCheck

SUMMARY_LIMIT = 140
INDICATORS = {"high": "critical", "moderate": "warning", "low": "info"}
OVERRIDE_SYSTEM = "urn:medrec:cds-override-reason"
OVERRIDE_REASONS = [
    {"system": OVERRIDE_SYSTEM, "code": "benefit-outweighs-risk",
     "display": "Benefit outweighs the risk"},
    {"system": OVERRIDE_SYSTEM, "code": "monitored", "display": "Patient is monitored for this"},
    {"system": OVERRIDE_SYSTEM, "code": "not-applicable",
     "display": "Not applicable to this patient"},
]  # fmt: skip


def clip(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def pair_detail(check: PairCheck, names: Mapping[str, str], model: str | None) -> str:
    """Markdown for one pair: the classes, known entries and the predicted risk."""
    lines = [f"**Pair:** {_name(check.atc3_a, names)} + {_name(check.atc3_b, names)}", ""]
    for e in check.known:
        types = f"; types: {', '.join(e.types)}" if e.types else ""
        lines.append(f"- Known interaction ({e.source} {e.source_version}): severity "
                     f"{e.severity}{types}")  # fmt: skip
    if not check.known:
        lines.append("- No known interaction in the knowledge base.")
    if check.prediction is not None:
        top = ", ".join(f"{t.type} ({t.probability:.2f})" for t in check.prediction.top_types)
        lines.append(f"- Predicted risk ({model}): {check.prediction.risk:.2f}"
                     + (f"; most likely types: {top}" if top else ""))  # fmt: skip
    return "\n".join(lines)


def interaction_card(
    check: PairCheck,
    *,
    names: Mapping[str, str],
    drafts: Mapping[str, Sequence[str]],
    label: str,
    model: str | None,
) -> dict[str, Any]:
    """A card for an interacting pair; ``drafts`` maps a class to its draft request ids."""
    assert check.level is not None
    a, b = _name(check.atc3_a, names), _name(check.atc3_b, names)
    suggestions = [
        {
            "label": f"Remove the draft order of {_name(cls, names)}",
            "uuid": str(uuid.uuid4()),
            "actions": [
                {"type": "delete", "description": f"Remove draft {ref}", "resourceId": [ref]}
            ],  # fmt: skip
        }
        for cls in (check.atc3_a, check.atc3_b)
        for ref in drafts.get(cls, ())
    ]
    return _card(
        summary=f"{check.level.capitalize()} interaction risk: {a} + {b}",
        indicator=INDICATORS[check.level],
        detail=pair_detail(check, names, model),
        label=label,
        suggestions=suggestions,
        selection="at-most-one",
    )


def recommendation_card(
    result: Recommendation,
    checks: Sequence[PairCheck],
    *,
    names: Mapping[str, str],
    patient: str | None,
    label: str,
    model: str | None,
    warnings: Sequence[str],
) -> dict[str, Any] | None:
    """A card proposing the recommended classes (``None`` when nothing reached the threshold)."""
    if not result.medications:
        return None
    lines = [f"Recommended ATC3 classes (threshold {result.threshold:g}):", ""]
    for m in result.medications:
        evidence = ", ".join(f"{e.system} {e.code} (+{e.contribution:.2f})" for e in m.evidence)
        lines.append(f"- **{_name(m.atc3, names)}**: probability {m.probability:.2f}"
                     + (f"; evidence: {evidence}" if evidence else ""))  # fmt: skip
    issues = [c for c in checks if c.level is not None]
    for check in issues:
        lines += ["", pair_detail(check, names, model)]
    lines += [f"\n*{w}*" for w in warnings]
    suggestions = [
        {
            "label": f"Propose {_name(m.atc3, names)}",
            "uuid": str(uuid.uuid4()),
            "actions": [{
                "type": "create",
                "description": f"Propose {_name(m.atc3, names)} (probability {m.probability:.2f})",
                "resource": proposal(m.atc3, names.get(m.atc3), patient,
                                     f"MedRec recommendation, probability {m.probability:.2f}"),
            }],
        }
        for m in result.medications
    ]  # fmt: skip
    n = len(result.medications)
    return _card(
        summary=f"MedRec suggests {n} medication class{'es' if n > 1 else ''} for this visit",
        indicator="warning" if any(c.level == "high" for c in issues) else "info",
        detail="\n".join(lines),
        label=label,
        suggestions=suggestions,
        selection="any",
    )


def _name(atc3: str, names: Mapping[str, str]) -> str:
    return f"{names[atc3]} ({atc3})" if atc3 in names else atc3


def _card(
    *,
    summary: str,
    indicator: str,
    detail: str,
    label: str,
    suggestions: list[dict[str, Any]],
    selection: str,
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": clip(summary),
        "indicator": indicator,
        "detail": detail,
        "source": {"label": label},
        "overrideReasons": OVERRIDE_REASONS,
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = selection
    return card
