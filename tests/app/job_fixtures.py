"""Fixtures of the job tests (tests/app/jobs, tests/app/crud): a database of their own, cleanup.

Jobs are worked by other processes, so these tests commit for real (no per-test transaction),
in a database of their own per module (the service tests' shared one is left alone); the fixture
deletes what each test wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.admin import upgrade_db
from app.crud.training_jobs import create_training_job
from app.db.models import AuditEvent, ModelVersion, TrainingJob
from app.db.session import make_engine
from app.settings import Settings
from tests.app.jobs.databases import fresh_database

FAKE = "tests.app.jobs.fake_toolkit:FakeToolkit"


@pytest.fixture(scope="module")
def jobs_database(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the run's backend for this module only: job tests commit for real."""
    with fresh_database(settings.database_url, tmp_path_factory.mktemp("jobs-db")) as url:
        yield url


@pytest.fixture(scope="module")
def jobs_engine(settings: Settings, jobs_database: str) -> Iterator[sa.Engine]:
    """The module database, migrated."""
    migrated = settings.model_copy(update={"database_url": jobs_database})
    upgrade_db(migrated)
    engine = make_engine(migrated)
    yield engine
    engine.dispose()


@pytest.fixture
def job_settings(
    settings: Settings, jobs_database: str, jobs_engine: sa.Engine, tmp_path: Path
) -> Iterator[Settings]:
    """The module's database, a fresh home, the fake toolkit and short lease timings."""
    yield settings.model_copy(
        update={
            "database_url": jobs_database,
            "home": tmp_path / "home",
            "job_toolkit": FAKE,
            "job_lease_seconds": 2.0,
            "job_heartbeat_seconds": 0.3,
            "job_poll_seconds": 0.1,
        }
    )
    with Session(jobs_engine) as session:
        session.execute(delete(TrainingJob))
        session.execute(delete(ModelVersion))
        session.execute(delete(AuditEvent))
        session.commit()


@pytest.fixture
def db(jobs_engine: sa.Engine) -> Iterator[Session]:
    """A plain session that commits (the workers are other sessions or processes)."""
    with Session(jobs_engine, expire_on_commit=False) as session:
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
