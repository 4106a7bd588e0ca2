"""The promotion gate: may a candidate version replace the active one without a person?

The candidate is auto-activated only when, on the same held-out split, it is not worse than the
active version beyond a margin: Jaccard and PR-AUC at least the active's minus their margins,
and DDI rate at most the active's plus its margin. With no active version there is nothing to
protect, so the candidate is activated. Otherwise it stays ``registered`` until an admin
activates it (``POST /v1/models/{name}/versions/{version}/activate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.settings import Settings


@dataclass(frozen=True)
class GateMargins:
    """How much worse than the active version a candidate may be and still go live."""

    jaccard: float = 0.01
    prauc: float = 0.01
    ddi_rate: float = 0.01

    @classmethod
    def from_settings(cls, settings: Settings) -> GateMargins:
        """The margins configured in ``settings``."""
        return cls(
            settings.gate_margin_jaccard, settings.gate_margin_prauc, settings.gate_margin_ddi_rate
        )


@dataclass(frozen=True)
class GateDecision:
    """Whether to activate, and why (one line per rule)."""

    activate: bool
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form for the comparison report."""
        return {"activate": self.activate, "reasons": list(self.reasons)}


def decide(
    candidate: dict[str, float], active: dict[str, float] | None, margins: GateMargins
) -> GateDecision:
    """Apply the gate to point metrics (``jaccard``, ``prauc``, ``ddi_rate``) on one split."""
    if active is None:
        return GateDecision(True, ["no active version to compare with"])
    reasons, ok = [], True
    for key, margin in (("jaccard", margins.jaccard), ("prauc", margins.prauc)):
        passed = candidate[key] >= active[key] - margin
        ok &= passed
        reasons.append(
            f"{key} {candidate[key]:.4f} vs active {active[key]:.4f} (margin {margin}): "
            + ("ok" if passed else "worse")
        )
    passed = candidate["ddi_rate"] <= active["ddi_rate"] + margins.ddi_rate
    ok &= passed
    reasons.append(
        f"ddi_rate {candidate['ddi_rate']:.4f} vs active {active['ddi_rate']:.4f} "
        f"(margin {margins.ddi_rate}): " + ("ok" if passed else "higher")
    )
    return GateDecision(ok, reasons)
