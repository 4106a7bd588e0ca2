"""Drug pairs judged for decision support: known entries and predicted risk, as plain values.

The CDS Hooks cards and the FHIR ``DetectedIssue`` resources are built from these (not from the
JSON answer of ``/v1``), straight from the worker's DDI snapshot and the pair-risk predictor.

A pair's **level** orders its urgency, from the knowledge base's severity and GENN's risk:

==========  ===================================================  =====================
level       when                                                 card indicator / FHIR
==========  ===================================================  =====================
high        a known entry of severity ``high``, or risk ≥ 0.8     ``critical`` / high
moderate    a known entry (other severity), or risk ≥ 0.5         ``warning`` / moderate
low         risk ≥ 0.2 without a known entry                      ``info`` / low
==========  ===================================================  =====================

Pairs below every threshold are not issues. A known entry of severity ``low`` or ``unknown``
counts as ``moderate``: the knowledge base says the pair interacts, which is worth a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.inference.pair_risk import PairRisk, PairRiskPredictor
from app.services.ddi_snapshot import DdiEntry, DdiTableView

HIGH_RISK = 0.8
MODERATE_RISK = 0.5
LOW_RISK = 0.2
_LEVELS = ("high", "moderate", "low")


@dataclass(frozen=True)
class PairCheck:
    """One ATC3 pair (``atc3_a < atc3_b``): what is known, what GENN predicts, and its level."""

    atc3_a: str
    atc3_b: str
    known: tuple[DdiEntry, ...]
    prediction: PairRisk | None
    level: str | None  # high | moderate | low | None (not an issue)


def level_of(known: Sequence[DdiEntry], risk: float | None) -> str | None:
    """The pair's level (see the module docstring)."""
    levels = []
    if known:
        levels.append("high" if any(e.severity == "high" for e in known) else "moderate")
    if risk is not None:
        for level, cut in zip(_LEVELS, (HIGH_RISK, MODERATE_RISK, LOW_RISK), strict=True):
            if risk >= cut:
                levels.append(level)
                break
    return min(levels, key=_LEVELS.index, default=None)


def check_pairs(
    view: DdiTableView, predictor: PairRiskPredictor | None, pairs: Sequence[tuple[str, str]]
) -> list[PairCheck]:
    """Judge each ``(a, b)`` pair (any order; a pair of one class with itself is skipped)."""
    ordered = sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b})
    predicted = predictor.predict(ordered) if predictor is not None and ordered else []
    risks = {(p.atc3_a, p.atc3_b): p for p in predicted if isinstance(p, PairRisk)}
    out = []
    for pair in ordered:
        known = view.pairs.get(pair, ())
        p = risks.get(pair)
        out.append(PairCheck(pair[0], pair[1], known, p, level_of(known, p.risk if p else None)))
    return out
