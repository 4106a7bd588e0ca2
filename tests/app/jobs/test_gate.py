from __future__ import annotations

from app.jobs.gate import GateMargins, decide

ACTIVE = {"jaccard": 0.50, "prauc": 0.70, "ddi_rate": 0.06}
MARGINS = GateMargins(jaccard=0.01, prauc=0.01, ddi_rate=0.005)


def test_no_active_version_activates() -> None:
    assert decide(ACTIVE, None, MARGINS).activate


def test_within_the_margins_activates() -> None:
    candidate = {"jaccard": 0.495, "prauc": 0.691, "ddi_rate": 0.064}
    decision = decide(candidate, ACTIVE, MARGINS)
    assert decision.activate and all(r.endswith("ok") for r in decision.reasons)


def test_each_rule_can_hold_the_candidate_back() -> None:
    for key, value in (("jaccard", 0.48), ("prauc", 0.68), ("ddi_rate", 0.07)):
        decision = decide({**ACTIVE, key: value}, ACTIVE, MARGINS)
        assert not decision.activate
        assert [r.split()[0] for r in decision.reasons if not r.endswith("ok")] == [key]
