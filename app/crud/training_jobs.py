"""Training jobs in the queue table (claiming and fenced writes live in ``app.crud.job_queue``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import TrainingJob

ACTIVE_STATES = ("queued", "running")


def create_training_job(
    *,
    session: Session,
    job_id: uuid.UUID,
    format: str,
    model: str,
    params: dict[str, Any],
    input_path: str,
    job_dir: str,
    created_by_key_id: uuid.UUID | None = None,
) -> TrainingJob:
    """Queue a job and commit."""
    row = TrainingJob(
        id=job_id,
        state="queued",
        format=format,
        model=model,
        params=params,
        input_path=input_path,
        job_dir=job_dir,
        progress=0.0,
        log_tail="",
        attempt=0,
        created_by_key_id=created_by_key_id,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def get_training_job(*, session: Session, job_id: uuid.UUID) -> TrainingJob | None:
    """Return one job, or ``None``."""
    return session.get(TrainingJob, job_id, populate_existing=True)


def get_training_jobs(
    *, session: Session, state: str | None = None, limit: int = 100
) -> list[TrainingJob]:
    """Return the newest jobs first (of ``state``, when given)."""
    stmt = select(TrainingJob).order_by(TrainingJob.created_at.desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(TrainingJob.state == state)
    return list(session.scalars(stmt))


# Any constant shared by every process; names the lock of job submissions on PostgreSQL.
_SUBMIT_LOCK = 0x6D65647265630001


def lock_job_submissions(*, session: Session) -> None:
    """Serialise submissions until the caller's transaction ends (count, then insert).

    On PostgreSQL a transaction-level advisory lock; on SQLite the caller's ``BEGIN IMMEDIATE``
    (``app.db.session.begin_write``) already holds the one write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_SUBMIT_LOCK)))


def count_active_jobs(*, session: Session) -> int:
    """Return the number of queued or running jobs."""
    stmt = select(func.count()).where(TrainingJob.state.in_(ACTIVE_STATES))
    return int(session.scalar(stmt) or 0)


def set_result_version(*, session: Session, job_id: uuid.UUID, model_version_id: uuid.UUID) -> None:
    """Link the job to the model version it registered, in the caller's transaction."""
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id)
        .values(result_model_version_id=model_version_id)
    )


def cancel_training_job(*, session: Session, job_id: uuid.UUID) -> TrainingJob | None:
    """Cancel a queued or running job and commit; a finished job is returned unchanged.

    A running job's worker sees its next heartbeat fail (the fence names ``state = 'running'``),
    stops the training process and cannot commit a result.
    """
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id, TrainingJob.state.in_(ACTIVE_STATES))
        .values(state="cancelled", finished_at=utcnow(), lease_owner=None, error="cancelled")
    )
    session.commit()
    return get_training_job(session=session, job_id=job_id)
