"""Fixtures of the job tests: settings on the run's database with a per-test home, and cleanup.

Jobs are worked by other processes, so these tests commit for real (no per-test transaction);
the fixture deletes what they wrote afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.crud.training_jobs import create_training_job
from app.db.models import AuditEvent, ModelVersion, TrainingJob
from app.jobs.promotion import AUTO_ACTIVATE_ROUTE
from app.settings import Settings

FAKE = "tests.app.jobs.fake_toolkit:FakeToolkit"


@pytest.fixture
def job_settings(settings: Settings, engine: sa.Engine, tmp_path: Path) -> Iterator[Settings]:
    """The run's database, a fresh home, the fake toolkit and short lease timings."""
    yield settings.model_copy(
        update={
            "home": tmp_path / "home",
            "job_toolkit": FAKE,
            "job_lease_seconds": 2.0,
            "job_heartbeat_seconds": 0.3,
            "job_poll_seconds": 0.1,
        }
    )
    with Session(engine) as session:
        session.execute(delete(TrainingJob))
        session.execute(delete(ModelVersion))
        session.execute(delete(AuditEvent).where(AuditEvent.route == AUTO_ACTIVATE_ROUTE))
        session.commit()


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[Session]:
    """A plain session that commits (the workers are other sessions or processes)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def queue_job(
    session: Session, settings: Settings, params: dict[str, object], *, with_input: bool = True
) -> TrainingJob:
    """Queue a job whose input is a directory with ``export.csv`` (what the fake reader wants)."""
    job_id = uuid.uuid4()
    job_dir = settings.jobs_dir / job_id.hex
    (job_dir / "input").mkdir(parents=True)
    if with_input:
        (job_dir / "input" / "export.csv").write_text("a,b\n1,2\n")
        (job_dir / "input" / "ddi.csv").write_text("atc3_a,atc3_b\nA02B,B01A\n")
    return create_training_job(
        session=session,
        job_id=job_id,
        format="mimic3",
        model="gamenet",
        params=params,
        input_path=str(job_dir / "input"),
        job_dir=str(job_dir),
    )
