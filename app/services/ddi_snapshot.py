"""A per-worker, in-memory copy of the DDI knowledge base, revalidated by a cheap signature query.

Every recommendation asks for the known interactions among its ~10-15 medications. Two
``ddi_interactions`` queries per request cost more server CPU than the model itself, while the
table changes only when someone runs ``medrec ddi load`` or ``POST /v1/interactions/known``.

Staleness bound: a worker re-reads the table's signature (row count and newest ``created_at``,
one aggregate query) when its copy is older than ``max_age_seconds`` (setting
``MEDREC_DDI_SNAPSHOT_SECONDS``, default 5 s), and reloads the table only when the signature
changed. A load made through another process or worker is therefore visible within
``max_age_seconds``; a load through this worker's own admin endpoint invalidates at once.
With ``max_age_seconds=0`` the signature is checked on every use.

The signature sees every load because :func:`app.crud.ddi.load_interactions` writes each
loaded entry as a new row (a re-loaded pair is deleted and inserted again), so any load that
writes a row raises ``max(created_at)`` or changes the count. It assumes the loaders' clocks do
not run backwards by more than the time between two loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.crud import ddi as crud
from app.services.table_snapshot import TableSnapshot


@dataclass(frozen=True)
class DdiEntry:
    """One known interaction of a pair, as served (immutable, shared between requests)."""

    source: str
    source_version: str
    types: tuple[str, ...]
    severity: str


@dataclass(frozen=True)
class DdiTableView:
    """One consistent version of the knowledge base: entries by ordered pair, and its drugs."""

    signature: tuple[Any, ...]
    pairs: Mapping[tuple[str, str], tuple[DdiEntry, ...]] = field(default_factory=dict)
    drugs: frozenset[str] = frozenset()
    # The service layer's answers (JSON-ready PairPublic dicts) built from this version, shared
    # between responses (read only); keyed by pair and the pair model's sha256 (None without
    # one). Dropped with the view when the table changes.
    answers: dict[tuple[tuple[str, str], str | None], dict[str, Any]] = field(
        default_factory=dict, compare=False
    )
    # Known-interaction matrices over a model's medication columns (``known_matrix``), by the
    # model's sha256; dropped with the view.
    matrices: dict[str, np.ndarray] = field(default_factory=dict, compare=False)

    def known_matrix(self, key: str, drugs: Sequence[str]) -> np.ndarray:
        """Bool ``[M, M]``, symmetric: ``True`` where ``drugs[i]``, ``drugs[j]`` is a known pair.

        Built once per view and ``key`` (the model's sha256: its ``drugs`` never change) and
        shared by every request, which only reads it.
        """
        matrix = self.matrices.get(key)
        if matrix is None:
            index = {d: i for i, d in enumerate(drugs)}
            matrix = np.zeros((len(drugs), len(drugs)), dtype=bool)
            for a, b in self.pairs:
                i, j = index.get(a), index.get(b)
                if i is not None and j is not None and i != j:
                    matrix[i, j] = matrix[j, i] = True
            matrix.setflags(write=False)
            self.matrices[key] = matrix
        return matrix


class DdiSnapshot(TableSnapshot[DdiTableView]):
    """The worker's copy of ``ddi_interactions``; see the module docstring for staleness.

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


def _load(session: Session, signature: tuple[Any, ...]) -> DdiTableView:
    pairs: dict[tuple[str, str], list[DdiEntry]] = {}
    for row in crud.get_all_interactions(session=session):
        entry = DdiEntry(row.source, row.source_version, tuple(row.types), row.severity)
        pairs.setdefault((row.atc_a, row.atc_b), []).append(entry)
    drugs = frozenset(d for pair in pairs for d in pair)
    return DdiTableView(signature, {k: tuple(v) for k, v in pairs.items()}, drugs)
