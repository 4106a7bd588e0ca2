"""A patient's visit as the service receives it and a job's held-out split presents it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RawVisit:
    """One visit as received: ``(system, code)`` pairs and ATC codes (past visits only)."""

    diagnoses: Sequence[tuple[str, str]] = ()
    procedures: Sequence[tuple[str, str]] = ()
    medications: Sequence[str] = ()
