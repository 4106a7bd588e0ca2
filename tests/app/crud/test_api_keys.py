from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from app.crud.api_keys import (
    TOUCH_INTERVAL,
    create_api_key,
    get_api_key,
    get_api_keys,
    hash_key,
    revoke_api_key,
    rotate_api_key,
    touch_api_key,
)
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


def test_list_revoke_rotate_and_touch(session: Session) -> None:
    row, plaintext = create_api_key(session=session, name="ehr", role="clinician", pepper="p")
    assert row in get_api_keys(session=session)
    assert touch_api_key(session=session, key_id=row.id)
    assert not touch_api_key(session=session, key_id=row.id)  # within the minute: no write
    session.refresh(row)
    first_use = row.last_used_at
    assert first_use is not None
    row.last_used_at = first_use - TOUCH_INTERVAL
    session.commit()
    assert touch_api_key(session=session, key_id=row.id)  # a minute later: written again

    new, new_plaintext = rotate_api_key(session=session, key_id=row.id, pepper="p")
    assert (new.name, new.role) == ("ehr", "clinician") and new_plaintext != plaintext
    assert get_api_key(session=session, key=plaintext, pepper="p") is None
    assert get_api_key(session=session, key=new_plaintext, pepper="p") == new
    assert rotate_api_key(session=session, key_id=row.id, pepper="p") is None  # revoked already
    revoked_at = row.revoked_at
    assert revoke_api_key(session=session, key_id=row.id).revoked_at == revoked_at  # idempotent
    assert revoke_api_key(session=session, key_id=uuid.uuid4()) is None
    active = get_api_keys(session=session, include_revoked=False)
    assert new in active and row not in active
