"""Medication code maps: RxNorm and NDC codes to ATC3 classes, and ATC display names."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from app.db.models import VocabMapping

_CHUNK = 500


@dataclass(frozen=True)
class VocabRow:
    """One validated map row: ``system`` is ``rxnorm``, ``ndc`` or ``atc``."""

    system: str
    code: str
    atc3: str
    display: str | None = None


def load_vocab(
    *, session: Session, rows: Sequence[VocabRow], source_version: str, replace: bool
) -> int:
    """Insert ``rows``; with ``replace``, first delete every stored row.

    A code already stored is replaced by this load's rows for it (deleted, then inserted), so
    every load writes new rows and the per-worker snapshots (:mod:`app.services.vocab_snapshot`)
    notice it by the table's newest ``created_at``. Commits once; returns the rows written.
    """
    if replace:
        session.execute(delete(VocabMapping))
    unique = {(r.system, r.code, r.atc3): r for r in rows}  # a repeated row: last wins
    codes = sorted({(r.system, r.code) for r in unique.values()})
    for start in range(0, len(codes), _CHUNK):
        part = codes[start : start + _CHUNK]
        session.execute(
            delete(VocabMapping).where(tuple_(VocabMapping.system, VocabMapping.code).in_(part))
        )
    values = [
        {"system": r.system, "code": r.code, "atc3": r.atc3, "display": r.display,
         "source_version": source_version}
        for r in unique.values()
    ]  # fmt: skip
    for start in range(0, len(values), _CHUNK):
        session.execute(insert(VocabMapping), values[start : start + _CHUNK])
    session.commit()
    return len(values)


def get_signature(*, session: Session) -> tuple[Any, ...]:
    """Return ``(row count, newest created_at)``; every load changes it (``load_vocab``)."""
    row = session.execute(
        select(func.count(), func.max(VocabMapping.created_at)).select_from(VocabMapping)
    ).one()
    return tuple(row)


def get_all_mappings(*, session: Session) -> Iterator[tuple[str, str, str, str | None]]:
    """Yield ``(system, code, atc3, display)`` of every stored row."""
    stmt = select(
        VocabMapping.system, VocabMapping.code, VocabMapping.atc3, VocabMapping.display
    ).order_by(VocabMapping.system, VocabMapping.code, VocabMapping.atc3)
    for row in session.execute(stmt):
        yield row.system, row.code, row.atc3, row.display
