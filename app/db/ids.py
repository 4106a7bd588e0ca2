"""Time-ordered UUIDs (version 7, RFC 9562) for the keys of append-only, high-volume rows.

A random (version 4) key lands anywhere in its B-tree index, so once the index outgrows the
page cache every insert reads and dirties pages all over it. Version 7 keys begin with the
Unix time in milliseconds: new rows go to the end of the index. ``bench/audit_insert.py``
(the audit table on SQLite, 80,000 rows in batches of 25, key and request id alike): random
ids cost 1.9x the CPU a row of these, and more as the table grows.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62


def uuid7() -> uuid.UUID:
    """A version-7 UUID: 48 bits of Unix milliseconds, then 74 random bits.

    Ids made in the same millisecond are unique (random bits) but not ordered among themselves.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 used
    high = (rand >> 62) & 0xFFF  # rand_a: 12 bits
    low = rand & ((1 << 62) - 1)  # rand_b: 62 bits
    return uuid.UUID(int=(ms & ((1 << 48) - 1)) << 80 | _VERSION | high << 64 | _VARIANT | low)
