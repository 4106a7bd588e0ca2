"""Claiming with a lease, heartbeats, fencing, attempts and cancellation (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crud.job_queue import LeaseLost, claim_next, fenced_update, heartbeat
from app.crud.training_jobs import cancel_training_job, count_active_jobs
from app.db.models import TrainingJob
from app.settings import Settings
from tests.app.job_fixtures import queue_job


def test_a_job_is_claimed_once_while_its_lease_holds(job_settings: Settings, db: Session) -> None:
    job = queue_job(db, job_settings, {})
    lease = claim_next(session=db, owner="a", lease_seconds=30, max_attempts=3)
    assert lease is not None and (lease.job_id, lease.attempt) == (job.id, 1)
    assert claim_next(session=db, owner="b", lease_seconds=30, max_attempts=3) is None
    heartbeat(session=db, lease=lease, lease_seconds=30)
    assert count_active_jobs(session=db) == 1


def test_an_expired_lease_is_taken_over_and_the_old_owner_is_fenced(
    job_settings: Settings, db: Session
) -> None:
    queue_job(db, job_settings, {})
    old = claim_next(session=db, owner="a", lease_seconds=0.0, max_attempts=3)
    new = claim_next(session=db, owner="b", lease_seconds=30, max_attempts=3)
    assert old is not None and new is not None and new.attempt == old.attempt + 1
    with pytest.raises(LeaseLost):
        heartbeat(session=db, lease=old, lease_seconds=30)
    with pytest.raises(LeaseLost):
        fenced_update(session=db, lease=old, state="succeeded")
    fenced_update(session=db, lease=new, progress=50.0)
    row = db.get(TrainingJob, new.job_id, populate_existing=True)
    assert row is not None and (row.state, row.lease_owner, row.progress) == ("running", "b", 50.0)


def test_a_job_whose_workers_keep_dying_fails_after_max_attempts(
    job_settings: Settings, db: Session
) -> None:
    job = queue_job(db, job_settings, {})
    for _ in range(2):
        assert claim_next(session=db, owner="a", lease_seconds=0.0, max_attempts=2) is not None
    assert claim_next(session=db, owner="a", lease_seconds=0.0, max_attempts=2) is None
    row = db.get(TrainingJob, job.id, populate_existing=True)
    assert row is not None and row.state == "failed" and "lost 2 times" in (row.error or "")


def test_cancelling_a_running_job_fences_its_worker(job_settings: Settings, db: Session) -> None:
    job = queue_job(db, job_settings, {})
    lease = claim_next(session=db, owner="a", lease_seconds=30, max_attempts=3)
    assert lease is not None
    row = cancel_training_job(session=db, job_id=job.id)
    assert row is not None and row.state == "cancelled"
    with pytest.raises(LeaseLost):
        heartbeat(session=db, lease=lease, lease_seconds=30)
    assert claim_next(session=db, owner="b", lease_seconds=30, max_attempts=3) is None


def test_postgresql_claims_skip_rows_locked_by_another_claimer(
    job_settings: Settings, db: Session, jobs_engine: sa.Engine
) -> None:
    if jobs_engine.dialect.name != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is the PostgreSQL path")
    first = queue_job(db, job_settings, {})
    second = queue_job(db, job_settings, {})
    with Session(jobs_engine) as other:
        other.scalars(select(TrainingJob).where(TrainingJob.id == first.id).with_for_update()).one()
        lease = claim_next(session=db, owner="b", lease_seconds=30, max_attempts=3)
        assert lease is not None and lease.job_id == second.id  # no waiting on the locked row
        other.rollback()
