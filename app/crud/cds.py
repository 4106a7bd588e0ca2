"""CDS Hooks: the JWT ids seen (replay refusal) and the feedback on cards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import CdsFeedback, CdsTokenId


def create_token_id(*, session: Session, iss: str, jti: str, expires_at: datetime) -> bool:
    """Record a token's ``jti``; return ``False`` when ``iss`` already used it (a replay).

    The unique ``(iss, jti)`` constraint decides, so two workers given the same token cannot
    both accept it. Ids of expired tokens are deleted on the way (a replayed expired token fails
    its ``exp`` check first). Commits.
    """
    session.execute(delete(CdsTokenId).where(CdsTokenId.expires_at < utcnow()))
    try:
        with session.begin_nested():
            session.add(CdsTokenId(iss=iss, jti=jti, expires_at=expires_at))
    except IntegrityError:
        session.commit()
        return False
    session.commit()
    return True


def create_feedback(
    *, session: Session, service_id: str, client_iss: str, items: Sequence[dict[str, Any]]
) -> int:
    """Store feedback items; commit and return how many.

    Each item holds ``card_uuid``, ``outcome``, ``override_reason``, ``accepted_suggestions`` and
    ``outcome_at``.
    """
    session.add_all(
        CdsFeedback(service_id=service_id, client_iss=client_iss, **item) for item in items
    )
    session.commit()
    return len(items)


def get_feedback(
    *, session: Session, service_id: str | None = None, limit: int = 100
) -> list[CdsFeedback]:
    """The newest feedback first, optionally of one service."""
    stmt = select(CdsFeedback).order_by(CdsFeedback.created_at.desc()).limit(limit)
    if service_id is not None:
        stmt = stmt.where(CdsFeedback.service_id == service_id)
    return list(session.scalars(stmt))
