"""What a job's training process knows: its lease, its job, and how to report progress.

Progress, epoch, validation metrics and the log tail are written with fenced updates, so a
process whose lease was taken over fails its next report (:class:`~app.crud.job_queue.LeaseLost`).
"""

from __future__ import annotations

import collections
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.crud.job_queue import Lease, fenced_update
from app.db.base import utcnow
from app.db.models import TrainingJob
from app.settings import Settings

LOG_TAIL_LINES = 60


@dataclass(frozen=True)
class JobSpec:
    """The immutable part of a job row, read once at the start of an attempt."""

    id: uuid.UUID
    format: str
    model: str
    params: dict[str, Any]
    input_path: Path
    job_dir: Path

    @classmethod
    def of(cls, row: TrainingJob) -> JobSpec:
        """Copy the fields of ``row``."""
        return cls(
            row.id, row.format, row.model, dict(row.params), Path(row.input_path), Path(row.job_dir)
        )


class LogTail(logging.Handler):
    """Keeps the last lines logged during the attempt (no PHI is logged by the pipeline)."""

    def __init__(self, lines: int = LOG_TAIL_LINES) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one formatted record."""
        self.lines.append(self.format(record))

    def text(self) -> str:
        """The kept lines, oldest first."""
        return "\n".join(self.lines)


@dataclass
class JobContext:
    """One attempt of one job, as seen by the training process."""

    settings: Settings
    sessions: sessionmaker[Session]
    lease: Lease
    job: JobSpec
    tail: LogTail

    @property
    def work_dir(self) -> Path:
        """This attempt's private directory (dataset, run, artifact before registration)."""
        return self.job.job_dir / f"attempt-{self.lease.attempt}"

    def report(self, progress: float, **values: Any) -> None:
        """Write progress (0-100) and any other job fields, with the log tail.

        Raises:
            LeaseLost: the attempt no longer holds the job.
        """
        with self.sessions() as session:
            fenced_update(
                session=session,
                lease=self.lease,
                progress=round(min(max(progress, 0.0), 100.0), 2),
                log_tail=self.tail.text(),
                heartbeat_at=utcnow(),
                **values,
            )
