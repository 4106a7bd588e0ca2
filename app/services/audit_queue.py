"""Audit events off the request path: a bounded write-behind queue per worker, nothing lost.

Every audited request used to INSERT and commit its event before its answer was sent: one
write transaction per request, serialised on SQLite's write lock. Now a request puts its event
in this worker's queue (no I/O) and a writer thread stores the queue in batches, one
transaction each, at least every ``flush_seconds`` (setting ``MEDREC_AUDIT_FLUSH_SECONDS``,
default 50 ms).

Guarantees:

- **Fail closed.** When the queue holds ``max_size`` events (``MEDREC_AUDIT_QUEUE_SIZE``), the
  request is refused with 503 (:class:`app.errors.AuditUnavailable`) instead of answered
  unaudited. A batch that fails to write stays queued and is retried; while the database is
  down the queue fills and requests are refused, as they were when each one wrote its own row.
- **Nothing lost on shutdown.** :meth:`AuditQueue.close` (the lifespan's exit, which uvicorn
  runs on SIGTERM after the last request has been answered) writes every queued event before
  the worker exits. What a SIGKILL or a crash takes with it is at most the last
  ``flush_seconds`` of events.
- Each event keeps the time and duration of its request (``created_at`` is set when the request
  ends, not when the batch is written).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from app.crud.audit import AuditRecord, create_audit_events
from app.db.session import begin_write
from app.errors import AuditUnavailable

logger = logging.getLogger(__name__)
Writer = Callable[[Sequence[AuditRecord]], None]
_RETRY_SECONDS = 1.0  # after a failed batch; the queue keeps filling meanwhile


class AuditQueue:
    """A bounded queue of audit events and the thread that writes them.

    Args:
        writer: stores one batch in one transaction (raises if it did not).
        max_size: the most events held; :meth:`put` refuses beyond it.
        flush_seconds: the longest an event waits before its batch is written.
    """

    def __init__(self, writer: Writer, *, max_size: int, flush_seconds: float) -> None:
        self._writer = writer
        self.max_size = max_size
        self.flush_seconds = flush_seconds
        self._events: deque[AuditRecord] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    def put(self, event: AuditRecord) -> None:
        """Queue ``event`` for the next batch.

        Raises:
            AuditUnavailable: the queue is full (or closed); the request must not be answered.
        """
        with self._wake:
            if self._closing or len(self._events) >= self.max_size:
                raise AuditUnavailable("the audit log is not keeping up; retry shortly")
            self._events.append(event)

    def __len__(self) -> int:
        return len(self._events)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new events, write every queued one, stop the writer.

        Events that still cannot be written after ``timeout`` seconds are logged as lost (the
        database is down at shutdown); nothing else is dropped.
        """
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self.flush()
        if self._events:
            logger.error("audit: %d events could not be written at shutdown", len(self._events))

    def flush(self) -> int:
        """Write what is queued now, in one batch; return how many were written."""
        with self._wake:
            batch = list(self._events)
        if not batch:
            return 0
        self._writer(batch)
        with self._wake:
            for _ in batch:
                self._events.popleft()
        return len(batch)

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closing:
                    self._wake.wait(self.flush_seconds)
                closing = self._closing
            try:
                self.flush()
            except Exception:  # the batch stays queued; requests see 503 once the queue fills
                logger.exception("audit: writing %d events failed; retrying", len(self._events))
                if closing:
                    return
                time.sleep(_RETRY_SECONDS)
                continue
            if closing:
                return


def database_writer(sessions: sessionmaker[Session]) -> Writer:
    """A :data:`Writer` storing each batch in one write transaction of its own session."""

    def write(events: Sequence[AuditRecord]) -> None:
        with sessions() as session:
            begin_write(session)
            create_audit_events(session=session, events=events)

    return write
