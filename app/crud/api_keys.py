"""API keys: created with a random secret shown once, stored only as an HMAC.

Keys are listed, revoked and rotated here; ``last_used_at`` is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import ApiKey

ROLE_RANK = {"clinician": 1, "admin": 2}
TOUCH_INTERVAL = timedelta(minutes=1)


def hash_key(key: str, *, pepper: str) -> str:
    """Return the stored form of ``key``: hex HMAC-SHA256 under the server's pepper."""
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def create_api_key(*, session: Session, name: str, role: str, pepper: str) -> tuple[ApiKey, str]:
    """Create a key; return the row and the plaintext key (never stored, shown once).

    Raises:
        ValueError: if ``role`` is not ``clinician`` or ``admin``.
    """
    if role not in ROLE_RANK:
        raise ValueError(f"create_api_key: role must be one of {sorted(ROLE_RANK)}")
    plaintext = "mr_" + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role, key_hash=hash_key(plaintext, pepper=pepper))
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, plaintext


def get_active_key(*, session: Session, key_hash: str) -> tuple[uuid.UUID, str] | None:
    """Return ``(id, role)`` of the active key stored as ``key_hash``, or ``None``.

    One indexed lookup on the unique hash, selecting two columns (no ORM object): this runs
    whenever a worker's key cache misses.
    """
    stmt = select(ApiKey.id, ApiKey.role).where(
        ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row.id, row.role)


def get_api_key(*, session: Session, key: str, pepper: str) -> ApiKey | None:
    """Return the active key matching ``key``, or ``None`` (unknown and revoked look the same)."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key, pepper=pepper)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def get_api_keys(*, session: Session, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first (revoked ones too, unless ``include_revoked`` is false)."""
    stmt = select(ApiKey).order_by(ApiKey.created_at)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def revoke_api_key(*, session: Session, key_id: uuid.UUID) -> ApiKey | None:
    """Revoke a key (idempotent: the first revocation time is kept); ``None`` if unknown.

    Commits. Workers that cached the key keep admitting it for at most their cache time
    (:mod:`app.services.key_cache`).
    """
    row = session.get(ApiKey, key_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.commit()
    return row


def rotate_api_key(
    *, session: Session, key_id: uuid.UUID, pepper: str
) -> tuple[ApiKey, str] | None:
    """Revoke an active key and create its successor (same name and role), in one commit.

    Returns the new row and its plaintext, or ``None`` when the key is unknown or revoked.
    """
    old = session.get(ApiKey, key_id)
    if old is None or old.revoked_at is not None:
        return None
    old.revoked_at = utcnow()
    plaintext = "mr_" + secrets.token_urlsafe(32)
    new = ApiKey(name=old.name, role=old.role, key_hash=hash_key(plaintext, pepper=pepper))
    session.add(new)
    session.commit()
    return new, plaintext


def touch_api_key(*, session: Session, key_id: uuid.UUID) -> bool:
    """Set ``last_used_at`` to now unless it was set less than a minute ago; commit.

    The condition is in the ``UPDATE`` itself, so however many workers try, the row is written
    at most once a minute. Returns whether it was written.
    """
    now = utcnow()
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - TOUCH_INTERVAL))
        .values(last_used_at=now)
    )
    written = session.execute(stmt).rowcount > 0  # type: ignore[attr-defined]
    session.commit()
    return bool(written)
