from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.crud.api_keys import create_api_key, get_api_key, hash_key
from app.db.base import utcnow


def test_keys_are_stored_hashed_and_revocable(session: Session) -> None:
    row, plaintext = create_api_key(session=session, name="k", role="clinician", pepper="p")
    assert plaintext not in row.key_hash and row.key_hash == hash_key(plaintext, pepper="p")
    assert get_api_key(session=session, key=plaintext, pepper="p") == row
    assert get_api_key(session=session, key=plaintext, pepper="other") is None
    row.revoked_at = utcnow()
    session.commit()
    assert get_api_key(session=session, key=plaintext, pepper="p") is None


def test_unknown_role_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="role"):
        create_api_key(session=session, name="k", role="nurse", pepper="p")
