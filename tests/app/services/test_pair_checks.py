from __future__ import annotations

import pytest

from app.services.ddi_snapshot import DdiEntry
from app.services.pair_checks import level_of

HIGH = DdiEntry("kb", "1", ("bleeding",), "high")
LOW = DdiEntry("kb", "1", (), "low")


@pytest.mark.parametrize(
    ("known", "risk", "level"),
    [
        ((), None, None),
        ((), 0.19, None),
        ((), 0.2, "low"),
        ((), 0.5, "moderate"),
        ((), 0.8, "high"),
        ((LOW,), None, "moderate"),  # known at all: at least a warning
        ((LOW,), 0.9, "high"),
        ((HIGH,), 0.1, "high"),
    ],
)
def test_levels_from_known_severity_and_predicted_risk(
    known: tuple[DdiEntry, ...], risk: float | None, level: str | None
) -> None:
    assert level_of(known, risk) == level
