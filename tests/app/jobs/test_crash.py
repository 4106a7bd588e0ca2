"""SIGKILL a worker mid-job; another worker re-runs it and the job completes exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, TrainingJob
from app.settings import Settings
from tests.app.factories import write_recommender_artifact
from tests.app.job_fixtures import queue_job

ROOT = Path(__file__).resolve().parents[3]


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "MEDREC_ENVIRONMENT": "test",
        "MEDREC_HOME": str(settings.home),
        "MEDREC_DATABASE_URL": settings.database_url,
        "MEDREC_API_KEY_PEPPER": "test-pepper",
        "MEDREC_JOB_TOOLKIT": "tests.app.jobs.fake_toolkit:SlowToolkit",
        "MEDREC_JOB_LEASE_SECONDS": "2",
        "MEDREC_JOB_HEARTBEAT_SECONDS": "0.3",
        "MEDREC_JOB_POLL_SECONDS": "0.2",
    }


@pytest.fixture
def start_worker(job_settings: Settings) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=_env(job_settings)
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def _job(db: Session, job_id: object) -> TrainingJob:
    db.rollback()
    row = db.get(TrainingJob, job_id, populate_existing=True)
    assert row is not None
    return row


def _wait(db: Session, job_id: object, done: Callable[[TrainingJob], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done(_job(db, job_id)):
        assert time.monotonic() < deadline, f"timed out; job is {_job(db, job_id).state}"
        time.sleep(0.2)


def _settled(job: TrainingJob) -> bool:
    """Failed or cancelled, or succeeded with the gate's activation done (it follows the commit)."""
    if job.state == "succeeded":
        return job.comparison is not None and job.comparison["gate"]["activated"] is not None
    return job.state not in ("queued", "running")


@pytest.mark.slow
def test_sigkilled_worker_job_completes_exactly_once(
    job_settings: Settings, db: Session, start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    truth = job_settings.home / "truth"
    write_recommender_artifact(truth)
    job = queue_job(db, job_settings, {"epochs": 6, "truth": str(truth)})
    first = start_worker()
    _wait(db, job.id, lambda j: (j.epoch or 0) >= 2, timeout=40)
    first.send_signal(signal.SIGKILL)
    first.wait()
    time.sleep(1.5)  # the orphaned training process notices its parent is gone and exits
    epoch = _job(db, job.id).epoch
    time.sleep(1.5)
    assert _job(db, job.id).epoch == epoch, "the orphaned training process kept going"
    assert _job(db, job.id).state == "running"

    start_worker()
    _wait(db, job.id, _settled, timeout=60)
    row = _job(db, job.id)
    assert row.state == "succeeded", row.error
    assert (row.attempt, row.epoch, row.progress) == (2, 6, 100.0)
    versions = db.scalars(select(ModelVersion)).all()
    assert len(versions) == 1 and row.result_model_version_id == versions[0].id
    assert versions[0].status == "active"  # no active version before: the gate lets it in
    assert not list(Path(row.job_dir).glob("attempt-*"))
