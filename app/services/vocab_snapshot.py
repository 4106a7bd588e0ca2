"""A per-worker, in-memory copy of the loaded medication code maps (``medrec vocab load``).

Every request that names a medication in RxNorm or NDC maps it to ATC3 classes here, without a
query. Staleness works as in :mod:`app.services.ddi_snapshot`: a worker re-reads the table's
signature (row count, newest ``created_at``) when its copy is older than ``max_age_seconds``
(setting ``MEDREC_VOCAB_SNAPSHOT_SECONDS``, default 5 s) and reloads only when it changed, so a
load is served by every worker within that bound; a load through this worker's own admin route
invalidates at once. ``load_vocab`` writes every loaded row anew, so every load changes the
signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.contract.codes import normalize_medication
from app.crud import vocab as crud
from app.services.table_snapshot import TableSnapshot


@dataclass(frozen=True)
class MappedCode:
    """A medication code and the ATC3 classes it stands for."""

    system: str
    code: str
    atc3: tuple[str, ...]


@dataclass(frozen=True)
class UnmappedCode:
    """A medication code that names no ATC3 class, and why (never silently dropped)."""

    system: str
    code: str
    reason: str  # malformed_code | no_atc_mapping | no_code_map_loaded


@dataclass(frozen=True)
class VocabView:
    """One consistent version of the code maps: ATC3 classes and display names by code."""

    signature: tuple[Any, ...]
    classes: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    displays: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def resolve(self, system: str, raw: str) -> MappedCode | UnmappedCode:
        """Map ``raw`` of ``system`` (``atc``, ``rxnorm`` or ``ndc``) to its ATC3 classes."""
        try:
            code = normalize_medication(system, raw)
        except ValueError:
            return UnmappedCode(system, raw.strip()[:32], "malformed_code")
        if system == "atc":
            return MappedCode(system, code, (code[:4],))
        found = self.classes.get((system, code))
        if found:
            return MappedCode(system, code, found)
        reason = "no_atc_mapping" if self.classes else "no_code_map_loaded"
        return UnmappedCode(system, code, reason)

    def display(self, atc3: str) -> str | None:
        """The display name of an ATC3 class, where a loaded map gives one."""
        return self.displays.get(("atc", atc3))


class VocabSnapshot(TableSnapshot[VocabView]):
    """The worker's copy of ``vocab_mappings``; see the module docstring for staleness.

    Args:
        max_age_seconds: how long a copy is served before its signature is checked again.
        clock: monotonic time source (tests inject one).
    """

    def __init__(self, max_age_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(
            max_age_seconds,
            signature=lambda session: crud.get_signature(session=session),
            load=_load,
            clock=clock,
        )


def _load(session: Session, signature: tuple[Any, ...]) -> VocabView:
    classes: dict[tuple[str, str], list[str]] = {}
    displays: dict[tuple[str, str], str] = {}
    for system, code, atc3, display in crud.get_all_mappings(session=session):
        if system != "atc":
            classes.setdefault((system, code), []).append(atc3)
        if display:
            displays[(system, code)] = display
    return VocabView(signature, {k: tuple(v) for k, v in classes.items()}, displays)
