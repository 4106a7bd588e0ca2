from __future__ import annotations

import time
import uuid

from app.crud.audit import AuditRecord
from app.db.ids import uuid7


def test_uuid7_is_a_version_7_uuid_led_by_the_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_uuid7_keys_sort_by_creation_and_do_not_repeat() -> None:
    made = []
    for _ in range(5):
        made += [uuid7() for _ in range(200)]
        time.sleep(0.002)  # ids of one millisecond are unique, not ordered among themselves
    assert len(set(made)) == len(made)
    stamps = [u.int >> 80 for u in made]
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]
    assert made[0] < made[-1]  # the key's order is the time's: inserts append to the index


def test_audit_rows_get_time_ordered_keys() -> None:
    record = AuditRecord("r", None, "GET", "/v1/models", 200, 1.0)
    assert record.id.version == 7
