"""A per-worker cache of verified API keys: key hash → (key id, role), for a short time.

Looking the key up costs a database round trip and an ORM load on every request. Only keys
found active are cached, under their HMAC (the plaintext is never kept), for ``ttl_seconds``
(setting ``MEDREC_API_KEY_CACHE_SECONDS``, default 30 s). Revoking a key therefore takes effect
within ``ttl_seconds`` on every worker; unknown and revoked keys are never cached, so they are
re-checked against the database on every request. ``ttl_seconds=0`` turns the cache off.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyIdentity:
    """Who is calling: the key's id (for the audit log) and its role."""

    id: uuid.UUID
    role: str


class ApiKeyCache:
    """Active keys verified in the last ``ttl_seconds``, by key hash.

    Args:
        ttl_seconds: how long a verified key is trusted without asking the database.
        max_entries: bound on the cache's size (the oldest entries are dropped first).
        clock: monotonic time source (tests inject one).
    """

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, KeyIdentity]] = {}

    def get(self, key_hash: str) -> KeyIdentity | None:
        """Return the cached identity of ``key_hash``, or ``None`` when absent or expired."""
        entry = self._entries.get(key_hash)
        if entry is None or self._clock() >= entry[0]:
            return None
        return entry[1]

    def put(self, key_hash: str, identity: KeyIdentity) -> None:
        """Remember an active key for ``ttl_seconds`` (a no-op when the cache is off)."""
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries.pop(key_hash, None)  # re-inserted last: dict order is expiry order
            self._entries[key_hash] = (self._clock() + self.ttl_seconds, identity)

    def clear(self) -> None:
        """Forget every key (after a revocation through this process)."""
        with self._lock:
            self._entries.clear()
