"""The audit log: one row per audited request, no PHI (route templates, ids, outcomes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.ids import uuid7
from app.db.models import AuditEvent

_INSERT = insert(AuditEvent)


@dataclass(frozen=True)
class AuditRecord:
    """One audited request as it will be stored: route template, ids, outcome (no PHI)."""

    request_id: str
    api_key_id: uuid.UUID | None
    method: str
    route: str
    status_code: int
    duration_ms: float
    created_at: datetime = field(default_factory=utcnow)
    id: uuid.UUID = field(default_factory=uuid7)  # time-ordered: inserts append to the index


def create_audit_events(*, session: Session, events: Sequence[AuditRecord]) -> int:
    """Insert ``events`` in one statement (executemany) and commit; return how many.

    A Core ``INSERT`` built once, on the session's connection: the unit of work's flush
    machinery would cost more than the insert itself. The caller begins the transaction as a
    write (``app.db.session.begin_write``).
    """
    if not events:
        return 0
    session.connection().execute(
        _INSERT,
        [
            {
                "id": e.id,
                "created_at": e.created_at,
                "request_id": e.request_id,
                "api_key_id": e.api_key_id,
                "method": e.method,
                "route": e.route,
                "status_code": e.status_code,
                "outcome": outcome_of(e.status_code),
                "duration_ms": e.duration_ms,
            }
            for e in events
        ],
    )
    session.commit()
    return len(events)


def create_audit_event(
    *,
    session: Session,
    request_id: str,
    api_key_id: uuid.UUID | None,
    method: str,
    route: str,
    status_code: int,
    duration_ms: float,
) -> uuid.UUID:
    """Record one event now and commit; return its id (requests go through the audit queue)."""
    record = AuditRecord(request_id, api_key_id, method, route, status_code, duration_ms)
    create_audit_events(session=session, events=[record])
    return record.id


def outcome_of(status_code: int) -> str:
    """Classify a status code: ``ok``, ``denied`` (401/403), ``rejected`` (other 4xx), ``error``."""
    if status_code < 400:
        return "ok"
    if status_code in (401, 403):
        return "denied"
    return "rejected" if status_code < 500 else "error"


def get_audit_events(*, session: Session, request_id: str) -> list[AuditEvent]:
    """Return the events of one request id."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id)))


def count_audit_events(*, session: Session) -> int:
    """Return the number of stored events."""
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
