"""The worker loop: a running job is cancelled; its training process is stopped, nothing kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crud.training_jobs import cancel_training_job
from app.db.models import ModelVersion, TrainingJob
from app.jobs.runner import JobWorker
from app.settings import Settings
from tests.app.factories import write_recommender_artifact
from tests.app.job_fixtures import queue_job


@pytest.mark.slow
def test_cancelling_a_running_job_stops_its_training(job_settings: Settings, db: Session) -> None:
    settings = job_settings.model_copy(
        update={"job_toolkit": "tests.app.jobs.fake_toolkit:SlowToolkit"}
    )
    truth = settings.home / "truth"
    write_recommender_artifact(truth)
    job = queue_job(db, settings, {"epochs": 30, "truth": str(truth)})
    worker = JobWorker(settings)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    deadline = time.monotonic() + 40
    while (db.get(TrainingJob, job.id, populate_existing=True).epoch or 0) < 1:  # type: ignore[union-attr]
        db.rollback()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    db.rollback()
    cancel_training_job(session=db, job_id=job.id)
    thread.join(timeout=10)
    assert not thread.is_alive()
    worker.close()
    row = db.get(TrainingJob, job.id, populate_existing=True)
    assert row is not None and row.state == "cancelled" and (row.epoch or 0) < 30
    assert db.scalars(select(ModelVersion)).all() == []
    assert not (Path(row.job_dir) / "attempt-1").exists()
