"""A per-worker copy of a table, served from memory and revalidated by a cheap signature query.

:class:`TableSnapshot` holds one immutable *view* of a table; the DDI knowledge base
(:mod:`app.services.ddi_snapshot`) and the medication code maps
(:mod:`app.services.vocab_snapshot`) are its two tables. A worker re-reads the table's signature
when its copy is older than ``max_age_seconds`` and reloads the view only when the signature
changed; ``max_age_seconds=0`` checks on every use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session


class _Signed(Protocol):
    @property
    def signature(self) -> tuple[Any, ...]: ...


V = TypeVar("V", bound=_Signed)


class TableSnapshot(Generic[V]):
    """The worker's copy of one table.

    Args:
        max_age_seconds: how long a copy is served before its signature is checked again.
        signature: reads the table's signature (one cheap query).
        load: reads the whole table into a view carrying that signature.
        clock: monotonic time source (tests inject one).
    """

    def __init__(
        self,
        max_age_seconds: float,
        *,
        signature: Callable[[Session], tuple[Any, ...]],
        load: Callable[[Session, tuple[Any, ...]], V],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age_seconds = max_age_seconds
        self._signature = signature
        self._load = load
        self._clock = clock
        self._lock = threading.Lock()
        self._view: V | None = None
        self._checked_at = 0.0

    def fresh(self) -> V | None:
        """The copy if it is within its max age (no I/O), else ``None``: call :meth:`view`."""
        view = self._view
        if view is not None and self._clock() - self._checked_at < self.max_age_seconds:
            return view
        return None

    def view(self, session: Session) -> V:
        """Return a current copy, revalidating (and reloading) through ``session`` if due."""
        view = self.fresh()
        if view is not None:
            return view
        view = self._view
        # One thread per worker revalidates; meanwhile the others serve the copy they have
        # (at most one revalidation's duration older than the bound), or wait for the first.
        if not self._lock.acquire(blocking=view is None or self.max_age_seconds == 0):
            assert view is not None  # a non-blocking acquire only with a copy to serve
            return view
        try:
            view = self.fresh()
            if view is not None:
                return view
            now = self._clock()
            signature = self._signature(session)
            view = self._view
            if view is None or view.signature != signature:
                view = self._load(session, signature)
                self._view = view
            self._checked_at = now
            return view
        finally:
            self._lock.release()

    def invalidate(self) -> None:
        """Forget the copy (after a load through this process); the next use reloads."""
        with self._lock:
            self._view = None
