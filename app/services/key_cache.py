"""A per-worker cache of verified API keys: key hash → (key id, role), for a short time.

Looking the key up costs a database round trip and an ORM load on every request. Only keys
found active are cached, under their HMAC (the plaintext is never kept), for ``ttl_seconds``
(setting ``MEDREC_API_KEY_CACHE_SECONDS``, default 30 s). Revoking a key therefore takes effect
within ``ttl_seconds`` on every worker; unknown and revoked keys are never cached, so they are
re-checked against the database on every request. ``ttl_seconds=0`` turns the cache off.

Revocation bound: a key revoked through a worker's admin route (``/v1/api-keys/{id}/revoke``
or ``/rotate``) is forgotten by that worker at once; every other worker, and every worker after
``medrec keys revoke``, refuses it at most ``ttl_seconds`` later (the cache lag; 30 s by
default).

The cache also spaces out the ``last_used_at`` writes: :meth:`ApiKeyCache.touch_due` says yes
at most once a minute per key in this worker, and the conditional ``UPDATE`` of
:func:`app.crud.api_keys.touch_api_key` writes at most once a minute per key across workers.
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
        self._touched: dict[uuid.UUID, float] = {}

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

    def forget(self, key_id: uuid.UUID) -> None:
        """Drop the entries of one key (after it was revoked or rotated through this worker)."""
        with self._lock:
            for key_hash in [h for h, (_, i) in self._entries.items() if i.id == key_id]:
                del self._entries[key_hash]

    def touch_due(self, key_id: uuid.UUID, interval: float = 60.0) -> bool:
        """Whether this worker should record a use of ``key_id`` now (once per ``interval``)."""
        now = self._clock()
        last = self._touched.get(key_id)
        if last is not None and now - last < interval:
            return False
        with self._lock:
            if len(self._touched) >= self.max_entries:
                self._touched.clear()
            self._touched[key_id] = now
        return True

    def clear(self) -> None:
        """Forget every key (after a revocation through this process)."""
        with self._lock:
            self._entries.clear()
