"""Submitting a job: put its input in the job directory, then queue the row.

The upload (or server-side ``source_path``) becomes ``JOB_DIR/input/``: a zip archive is
extracted there with the safety caps of :mod:`app.jobs.uploads`, a single file is copied into
it. Mapping files go to ``JOB_DIR/mappings/``. If anything is refused, the job directory is
removed and no row is written.

The capacity check and the insert are one short write transaction, taken after the input is
staged (a slow extraction must not hold the write lock): ``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL. A read transaction that counted and then tried to insert could not
be upgraded under concurrency ("database is locked"), and two submitters could both see room.
A cheap read check before staging refuses at once when the queue is already full.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from app.crud import training_jobs as crud
from app.db.models import TrainingJob
from app.db.session import begin_write
from app.errors import MedRecError
from app.jobs.uploads import copy_limited, extract_zip, extraction_limit, is_zip, safe_name
from app.settings import Settings


class TooManyJobs(MedRecError):
    """The number of queued and running jobs is at the configured limit."""

    status = 429
    title = "Too many training jobs"


def check_capacity(*, session: Session, settings: Settings) -> None:
    """Refuse a new job while ``max_active_jobs`` are queued or running.

    Raises:
        TooManyJobs: at the limit.
    """
    active = crud.count_active_jobs(session=session)
    if active >= settings.max_active_jobs:
        raise TooManyJobs(
            f"{active} training jobs are queued or running; the limit is "
            f"{settings.max_active_jobs}. Retry when one has finished, or cancel one."
        )


def _place_input(source: Path, input_dir: Path, settings: Settings) -> None:
    if is_zip(source):
        extract_zip(
            source,
            input_dir,
            max_bytes=extraction_limit(settings.max_extracted_bytes, settings.jobs_dir),
            max_files=settings.max_archive_files,
            max_ratio=settings.max_inflate_ratio,
        )
    else:
        input_dir.mkdir(parents=True)
        with open(source, "rb") as fh:
            copy_limited(fh, input_dir / source.name, max_bytes=settings.max_upload_bytes)


def submit_job(
    *,
    session: Session,
    settings: Settings,
    format: str,
    model: str,
    params: dict[str, Any],
    upload: tuple[str, BinaryIO] | None = None,
    source: Path | None = None,
    mappings: Sequence[tuple[str, BinaryIO]] = (),
    created_by_key_id: uuid.UUID | None = None,
) -> TrainingJob:
    """Stage the input of a new job and queue it (one of ``upload`` or ``source``).

    Raises:
        TooManyJobs: at the job limit.
        UploadRefused: an unsafe or oversized input (nothing is kept).
    """
    check_capacity(session=session, settings=settings)
    session.commit()  # end the read: the insert below takes the write lock at BEGIN
    job_id = uuid.uuid4()
    job_dir = settings.jobs_dir / job_id.hex
    job_dir.mkdir(parents=True)
    input_path = job_dir / "input"
    try:
        if upload is not None:
            name, stream = upload
            staged = job_dir / "upload" / safe_name(name)
            staged.parent.mkdir()
            copy_limited(stream, staged, max_bytes=settings.max_upload_bytes)
            _place_input(staged, job_dir / "input", settings)
            shutil.rmtree(staged.parent)
        elif source is not None and source.is_dir():
            input_path = source  # read in place: a server-side export is not copied
        elif source is not None:
            _place_input(source, job_dir / "input", settings)
        for name, stream in mappings:
            target = job_dir / "mappings" / safe_name(name)
            target.parent.mkdir(exist_ok=True)
            copy_limited(stream, target, max_bytes=settings.max_upload_bytes)
        begin_write(session)
        crud.lock_job_submissions(session=session)
        check_capacity(session=session, settings=settings)
        return crud.create_training_job(
            session=session,
            job_id=job_id,
            format=format,
            model=model,
            params=params,
            input_path=str(input_path),
            job_dir=str(job_dir),
            created_by_key_id=created_by_key_id,
        )
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
