"""The DDI knowledge base: known interactions between ATC3 classes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.db.models import DdiInteraction


@dataclass(frozen=True)
class DdiRow:
    """One validated table row, ``atc3_a < atc3_b``."""

    atc3_a: str
    atc3_b: str
    types: tuple[str, ...]
    severity: str
    source: str


def load_interactions(
    *, session: Session, rows: Sequence[DdiRow], source_version: str, replace: bool
) -> int:
    """Insert ``rows``; with ``replace``, first delete the rows of every source they name.

    A pair already stored for the same source is replaced (deleted, then inserted again), so
    loading twice is idempotent and every load writes new rows: the per-worker snapshots
    (:mod:`app.services.ddi_snapshot`) notice a load by the table's newest ``created_at``.
    Commits once; returns the number of rows written.
    """
    sources = {r.source for r in rows}
    if replace and sources:
        session.execute(delete(DdiInteraction).where(DdiInteraction.source.in_(sources)))
    incoming = {(r.atc3_a, r.atc3_b, r.source): r for r in rows}  # a repeated pair: last wins
    stored = select(
        DdiInteraction.id, DdiInteraction.atc_a, DdiInteraction.atc_b, DdiInteraction.source
    ).where(DdiInteraction.source.in_(sources))
    stale = [id_ for id_, *key in session.execute(stored) if tuple(key) in incoming]
    for start in range(0, len(stale), 500):
        session.execute(
            delete(DdiInteraction).where(DdiInteraction.id.in_(stale[start : start + 500]))
        )
    session.add_all(
        DdiInteraction(
            atc_a=r.atc3_a,
            atc_b=r.atc3_b,
            source=r.source,
            types=list(r.types),
            severity=r.severity,
            source_version=source_version,
        )
        for r in incoming.values()
    )
    session.commit()
    return len(rows)


def get_signature(*, session: Session) -> tuple[Any, ...]:
    """Return ``(row count, newest created_at)``; every load changes it (``load_interactions``)."""
    row = session.execute(
        select(func.count(), func.max(DdiInteraction.created_at)).select_from(DdiInteraction)
    ).one()
    return tuple(row)


def get_all_interactions(*, session: Session) -> Iterator[DdiInteraction]:
    """Yield every stored entry, by source within each pair."""
    stmt = select(DdiInteraction).order_by(
        DdiInteraction.atc_a, DdiInteraction.atc_b, DdiInteraction.source
    )
    yield from session.scalars(stmt)


def count_interactions(*, session: Session) -> int:
    """Return the number of stored entries."""
    return session.scalar(select(func.count()).select_from(DdiInteraction)) or 0
