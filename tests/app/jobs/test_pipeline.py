"""One attempt end to end with the fake toolkit: result, comparison, gate, fencing, bad input."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crud.job_queue import claim_next
from app.crud.model_versions import get_model_version, set_active
from app.crud.training_jobs import create_training_job
from app.db.models import AuditEvent, ModelVersion, TrainingJob
from app.inference.onnx import read_manifest
from app.jobs.child import run_child
from app.jobs.pipeline import run_attempt
from app.jobs.promotion import AUTO_ACTIVATE_ROUTE
from app.plugins import load_entry_point
from app.services.models import register_artifact
from app.settings import Settings
from tests.app.factories import write_recommender_artifact
from tests.app.job_fixtures import queue_job
from tests.app.jobs.fake_toolkit import FakeToolkit
from tests.training.gbert.factories import GBERT_JOB_TINY
from training.jobs import Toolkit


def _run(settings: Settings, db: Session, owner: str = "w1") -> TrainingJob:
    lease = claim_next(session=db, owner=owner, lease_seconds=30, max_attempts=3)
    assert lease is not None
    run_child(settings, lease.job_id, owner, lease.attempt, FakeToolkit, run_attempt)
    job = db.get(TrainingJob, lease.job_id, populate_existing=True)
    assert job is not None
    return job


def _active_v1(settings: Settings, db: Session) -> Path:
    path = settings.artifacts_dir / "gamenet-v1"
    write_recommender_artifact(path, version=1)
    row = register_artifact(session=db, path=path)
    set_active(session=db, row=row)
    return path


def test_better_or_equal_candidate_is_activated_and_audited(
    job_settings: Settings, db: Session
) -> None:
    truth = _active_v1(job_settings, db)
    queue_job(db, job_settings, {"epochs": 2, "truth": str(truth), "fake": {"seed": 0}})
    job = _run(job_settings, db)
    assert job.state == "succeeded", job.error
    assert (job.progress, job.epoch, job.epochs) == (100.0, 2, 2)
    assert job.comparison is not None
    report = job.comparison
    assert report["active"]["version"] == 1
    assert report["candidate"]["jaccard"]["point"] == report["active"]["jaccard"]["point"] == 1.0
    assert set(report["candidate"]["ddi_rate"]) == {"point", "mean", "std", "ci95"}
    assert report["gate"]["activate"] is True and report["gate"]["activated"] is True
    v2 = get_model_version(session=db, name="gamenet", version=2)
    assert v2 is not None and v2.status == "active" and job.result_model_version_id == v2.id
    db.expire_all()
    assert get_model_version(session=db, name="gamenet", version=1).status == "inactive"  # type: ignore[union-attr]
    audits = db.scalars(select(AuditEvent).where(AuditEvent.route == AUTO_ACTIVATE_ROUTE)).all()
    assert [a.status_code for a in audits] == [200]
    assert not (Path(job.job_dir) / "attempt-1").exists()
    assert (Path(v2.path) / "comparison.json").is_file()


def test_worse_candidate_is_registered_but_not_activated(
    job_settings: Settings, db: Session
) -> None:
    truth = _active_v1(job_settings, db)
    # bias -10: every probability is far below the threshold, so Jaccard drops to 0.
    queue_job(db, job_settings, {"truth": str(truth), "fake": {"bias": -10.0}})
    job = _run(job_settings, db)
    assert job.state == "succeeded", job.error
    report = job.comparison
    assert report is not None and report["gate"]["activate"] is False
    assert report["candidate"]["jaccard"]["point"] < report["active"]["jaccard"]["point"] - 0.01
    assert any("jaccard" in r and r.endswith("worse") for r in report["gate"]["reasons"])
    db.expire_all()
    statuses = {r.version: r.status for r in db.scalars(select(ModelVersion))}
    assert statuses == {1: "active", 2: "registered"}


def test_bad_input_fails_the_job_and_writes_nothing(job_settings: Settings, db: Session) -> None:
    queue_job(db, job_settings, {"truth": "unused"}, with_input=False)
    job = _run(job_settings, db)
    assert job.state == "failed"
    assert job.error == "export.csv: missing table (fake reader)"
    assert db.scalars(select(ModelVersion)).all() == []
    assert not (Path(job.job_dir) / "attempt-1").exists()


def test_a_toolkit_that_is_not_installed_fails_the_job_with_the_extra_to_install(
    job_settings: Settings, db: Session
) -> None:
    queue_job(db, job_settings, {"truth": "unused"})
    lease = claim_next(session=db, owner="w1", lease_seconds=30, max_attempts=3)
    assert lease is not None
    missing = job_settings.model_copy(update={"job_toolkit": "training.not_installed:Toolkit"})

    def toolkit() -> FakeToolkit:
        built: FakeToolkit = load_entry_point(missing.job_toolkit)()
        return built

    run_child(missing, lease.job_id, "w1", lease.attempt, toolkit, run_attempt)
    job = db.get(TrainingJob, lease.job_id, populate_existing=True)
    assert job is not None and job.state == "failed"
    assert "pip install 'medrec[train]'" in (job.error or "")
    assert db.scalars(select(ModelVersion)).all() == []


def test_a_stale_attempt_cannot_commit(job_settings: Settings, db: Session) -> None:
    truth = _active_v1(job_settings, db)
    queue_job(db, job_settings, {"truth": str(truth)})
    stale = claim_next(session=db, owner="stale", lease_seconds=0.0, max_attempts=3)
    assert stale is not None  # its lease is already expired: another worker takes the job over
    fresh = claim_next(session=db, owner="fresh", lease_seconds=30, max_attempts=3)
    assert fresh is not None and fresh.attempt == 2
    run_child(job_settings, stale.job_id, "stale", stale.attempt, FakeToolkit, run_attempt)
    job = db.get(TrainingJob, stale.job_id, populate_existing=True)
    assert job is not None and job.state == "running" and job.lease_owner == "fresh"
    assert {r.version for r in db.scalars(select(ModelVersion))} == {1}
    db.rollback()  # end the read transaction (SQLite: one writer at a time)
    run_child(job_settings, fresh.job_id, "fresh", fresh.attempt, FakeToolkit, run_attempt)
    db.expire_all()
    job = db.get(TrainingJob, fresh.job_id)
    assert job is not None and job.state == "succeeded", job.error
    assert {r.version for r in db.scalars(select(ModelVersion))} == {1, 2}


def test_a_version_number_taken_meanwhile_moves_to_the_next(
    job_settings: Settings, db: Session
) -> None:
    truth = _active_v1(job_settings, db)
    other = job_settings.artifacts_dir / "other-v2"

    class Racing(FakeToolkit):
        def export(self, run_dir: Path, artifact_dir: Path, version: int) -> None:
            super().export(run_dir, artifact_dir, version)
            write_recommender_artifact(other, version=version)  # another job registers v2 first
            register_artifact(session=db, path=other)
            db.rollback()  # end the refresh's transaction (SQLite: one writer at a time)

    queue_job(db, job_settings, {"truth": str(truth)})
    lease = claim_next(session=db, owner="w", lease_seconds=30, max_attempts=3)
    assert lease is not None
    run_child(job_settings, lease.job_id, "w", lease.attempt, Racing, run_attempt)
    job = db.get(TrainingJob, lease.job_id, populate_existing=True)
    assert job is not None and job.state == "succeeded", job.error
    result = db.get(ModelVersion, job.result_model_version_id)
    assert result is not None and result.version == 3
    assert read_manifest(Path(result.path)).version == 3


GBERT_TINY = {**GBERT_JOB_TINY, "epochs": 1, "seed": 2}


@pytest.mark.slow
def test_gbert_jobs_train_every_stage_and_are_gated_against_the_active_gbert(
    job_settings: Settings, db: Session
) -> None:
    """Two G-BERT jobs, real toolkit: the first goes live, the second is compared with it."""
    from training.data.synth import SynthConfig, write_mimic3_export

    results = []
    for _ in range(2):
        job_id = uuid.uuid4()
        job_dir = job_settings.jobs_dir / job_id.hex
        write_mimic3_export(SynthConfig(patients=80, seed=7), job_dir / "input")
        create_training_job(
            session=db,
            job_id=job_id,
            format="mimic3",
            model="gbert",
            params=GBERT_TINY,
            input_path=str(job_dir / "input"),
            job_dir=str(job_dir),
        )
        lease = claim_next(session=db, owner="w", lease_seconds=60, max_attempts=1)
        assert lease is not None
        run_child(job_settings, lease.job_id, "w", lease.attempt, Toolkit, run_attempt)
        job = db.get(TrainingJob, lease.job_id, populate_existing=True)
        assert job is not None and job.state == "succeeded", (job.error, job.log_tail[-1500:])
        results.append(job)
    first, second = results
    # pretrain 1 + DHA (1 fusion + 1 continued pre-training) + fine-tune 1 epochs, one count.
    assert (first.progress, first.epoch, first.epochs) == (100.0, 4, 4)
    assert first.comparison is not None and first.comparison["active"] is None
    assert second.comparison is not None
    report = second.comparison
    assert (report["active"]["name"], report["active"]["version"]) == ("gbert", 1)
    assert report["patients"] == first.comparison["patients"]  # the same held-out patients
    assert {"jaccard", "prauc", "ddi_rate"} <= set(report["candidate"]) & set(report["active"])
    db.expire_all()
    versions = {r.version: r.status for r in db.scalars(select(ModelVersion))}
    assert versions[1] in ("active", "inactive") and set(versions) == {1, 2}
    assert (versions[2] == "active") is report["gate"]["activate"]
