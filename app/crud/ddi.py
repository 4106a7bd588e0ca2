"""The DDI knowledge base: known interactions between ATC3 classes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, union
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

    A pair already stored for the same source is updated, so loading twice is idempotent.
    Commits once; returns the number of rows written.
    """
    sources = {r.source for r in rows}
    if replace and sources:
        session.execute(delete(DdiInteraction).where(DdiInteraction.source.in_(sources)))
    existing = {
        (r.atc_a, r.atc_b, r.source): r
        for r in session.scalars(select(DdiInteraction).where(DdiInteraction.source.in_(sources)))
    }
    for r in rows:
        row = existing.get((r.atc3_a, r.atc3_b, r.source))
        if row is None:
            row = DdiInteraction(atc_a=r.atc3_a, atc_b=r.atc3_b, source=r.source)
            session.add(row)
        row.types = list(r.types)
        row.severity = r.severity
        row.source_version = source_version
    session.commit()
    return len(rows)


def get_interactions(
    *, session: Session, drugs: Iterable[str]
) -> dict[tuple[str, str], list[DdiInteraction]]:
    """Return the known entries for every pair among ``drugs``, keyed by the ordered pair."""
    wanted = sorted(set(drugs))
    stmt = (
        select(DdiInteraction)
        .where(DdiInteraction.atc_a.in_(wanted), DdiInteraction.atc_b.in_(wanted))
        .order_by(DdiInteraction.source)
    )
    out: dict[tuple[str, str], list[DdiInteraction]] = defaultdict(list)
    for row in session.scalars(stmt):
        out[(row.atc_a, row.atc_b)].append(row)
    return dict(out)


def get_known_drugs(*, session: Session, drugs: Iterable[str]) -> set[str]:
    """Return which of ``drugs`` appear in the knowledge base at all."""
    wanted = sorted(set(drugs))
    stmt = union(
        select(DdiInteraction.atc_a).where(DdiInteraction.atc_a.in_(wanted)),
        select(DdiInteraction.atc_b).where(DdiInteraction.atc_b.in_(wanted)),
    )
    return set(session.scalars(stmt))


def count_interactions(*, session: Session) -> int:
    """Return the number of stored entries."""
    return session.scalar(select(func.count()).select_from(DdiInteraction)) or 0
