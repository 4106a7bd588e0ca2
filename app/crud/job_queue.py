"""The job queue in the database: claim with a lease, heartbeat, and fenced writes.

A worker claims one job at a time. On PostgreSQL the candidate row is read with
``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers never wait on each other; on SQLite
(one writer at a time) the claim is a compare-and-set ``UPDATE`` on the state, lease and attempt
that were read. Either way the claim bumps ``attempt`` and sets ``lease_owner``.

Every later write of the worker (heartbeat, progress, the final result) is *fenced*: its
``WHERE`` names the job's id, ``lease_owner``, ``attempt`` and ``state = 'running'``. A worker
whose lease expired and was claimed by another one (or whose job was cancelled) matches no row,
so it cannot overwrite anything; :class:`LeaseLost` tells it to stop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import TrainingJob


class LeaseLost(Exception):
    """The job is no longer ours (lease taken over, job cancelled or finished)."""


@dataclass(frozen=True)
class Lease:
    """A claimed job: who holds it, for which attempt."""

    job_id: uuid.UUID
    owner: str
    attempt: int


def _claimable() -> Any:
    return or_(
        TrainingJob.state == "queued",
        (TrainingJob.state == "running") & (TrainingJob.lease_expires_at < utcnow()),
    )


def claim_next(
    *,
    session: Session,
    owner: str,
    lease_seconds: float,
    max_attempts: int,
    job_id: uuid.UUID | None = None,
) -> Lease | None:
    """Claim the oldest queued job (or ``job_id``), or a running one whose lease expired; commit.

    A job that already used ``max_attempts`` attempts is failed instead of claimed.
    """
    stmt = select(TrainingJob).where(_claimable()).order_by(TrainingJob.created_at).limit(1)
    if job_id is not None:
        stmt = stmt.where(TrainingJob.id == job_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    job = session.scalars(stmt).first()
    if job is None:
        session.rollback()
        return None
    seen = (job.id, job.state, job.attempt)
    session.expunge(job)
    now = utcnow()
    fence = (
        (TrainingJob.id == seen[0])
        & (TrainingJob.state == seen[1])
        & (TrainingJob.attempt == seen[2])
        & _claimable()
    )
    if seen[2] >= max_attempts:
        session.execute(
            update(TrainingJob)
            .where(fence)
            .values(
                state="failed",
                error=f"the job's worker was lost {seen[2]} times; giving up",
                finished_at=now,
                lease_owner=None,
            )
        )
        session.commit()
        return None
    result = session.execute(
        update(TrainingJob)
        .where(fence)
        .values(
            state="running",
            lease_owner=owner,
            attempt=seen[2] + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            started_at=now,
            progress=0.0,
            epoch=None,
        )
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None  # another worker won the race
    return Lease(seen[0], owner, seen[2] + 1)


def _fence(lease: Lease) -> Any:
    return (
        (TrainingJob.id == lease.job_id)
        & (TrainingJob.lease_owner == lease.owner)
        & (TrainingJob.attempt == lease.attempt)
        & (TrainingJob.state == "running")
    )


def fenced_update(*, session: Session, lease: Lease, commit: bool = True, **values: Any) -> None:
    """Update the job only while ``lease`` holds it.

    Raises:
        LeaseLost: no row matched (lease taken over, job cancelled or finished).
    """
    result = session.execute(update(TrainingJob).where(_fence(lease)).values(**values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise LeaseLost(f"job {lease.job_id}: attempt {lease.attempt} no longer holds the lease")
    if commit:
        session.commit()


def heartbeat(*, session: Session, lease: Lease, lease_seconds: float) -> None:
    """Extend the lease.

    Raises:
        LeaseLost: as :func:`fenced_update`.
    """
    now = utcnow()
    fenced_update(
        session=session,
        lease=lease,
        heartbeat_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
    )


def fail(*, session: Session, lease: Lease, error: str, **values: Any) -> None:
    """Mark the job failed with a message a person can act on (no-op if the lease is lost)."""
    try:
        fenced_update(
            session=session,
            lease=lease,
            state="failed",
            error=error[:4000],
            finished_at=utcnow(),
            lease_owner=None,
            **values,
        )
    except LeaseLost:
        pass
