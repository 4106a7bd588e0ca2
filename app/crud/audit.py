"""The audit log: one row per audited request, no PHI (route templates, ids, outcomes)."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import AuditEvent


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
    """Record one request and commit; return the event id.

    A Core ``INSERT``, not ``session.add``: this runs on every audited request, and the unit of
    work's flush machinery costs more than the insert itself.
    """
    event_id = uuid.uuid4()
    session.execute(
        insert(AuditEvent).values(
            id=event_id,
            created_at=utcnow(),
            request_id=request_id,
            api_key_id=api_key_id,
            method=method,
            route=route,
            status_code=status_code,
            outcome=outcome_of(status_code),
            duration_ms=duration_ms,
        )
    )
    session.commit()
    return event_id


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
