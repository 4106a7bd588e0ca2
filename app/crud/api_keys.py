"""API keys: created with a random secret shown once, stored only as an HMAC."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ApiKey

ROLE_RANK = {"clinician": 1, "admin": 2}


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
