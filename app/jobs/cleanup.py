"""Removing a job's files: on cancellation, and at start-up for directories nothing owns.

A job directory holds the staged upload, the extracted input and each attempt's run. It is
removed when the job is cancelled, and at start-up when it has no row (the process was killed
while staging an upload, before the row was written) or its job was cancelled while a worker
still wrote to it. Directories younger than ``orphan_grace_seconds`` are left alone: another
worker of the service may be staging them right now.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from app.crud import training_jobs as crud
from app.db.models import TrainingJob
from app.settings import Settings

logger = logging.getLogger(__name__)


def cancel_job(*, session: Session, job_id: uuid.UUID) -> TrainingJob | None:
    """Cancel a queued or running job and remove its files; ``None`` when there is no such job.

    A running job's worker loses its lease at the next heartbeat (``app.jobs.runner``); its
    training process fails without its files, and the fence keeps it from committing.
    """
    row = crud.cancel_training_job(session=session, job_id=job_id)
    if row is not None and row.state == "cancelled":
        shutil.rmtree(row.job_dir, ignore_errors=True)
    return row


def sweep_orphans(*, session: Session, settings: Settings) -> list[str]:
    """Remove job directories without a live row, older than the grace; return their names."""
    root = settings.jobs_dir
    if not root.is_dir():
        return []
    cutoff = time.time() - settings.orphan_grace_seconds
    removed = []
    for entry in sorted(root.iterdir()):
        if not _is_orphan(session, entry, cutoff):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    if removed:
        logger.warning("removed %d orphaned job directories", len(removed))
    session.commit()  # end the reads
    return removed


def _is_orphan(session: Session, entry: Path, cutoff: float) -> bool:
    try:
        job_id = uuid.UUID(hex=entry.name)
    except ValueError:
        return False  # not a job directory: never ours to remove
    if not entry.is_dir() or entry.is_symlink() or entry.stat().st_mtime > cutoff:
        return False
    row = crud.get_training_job(session=session, job_id=job_id)
    return row is None or row.state == "cancelled"
