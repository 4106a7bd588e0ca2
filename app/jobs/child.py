"""The body of a job's training process, around :func:`app.jobs.pipeline.run_attempt`.

It opens its own engine, reads the job, runs the attempt and turns every failure into a job
message a person can act on: input problems verbatim (file, column, filter counts), anything else
as the step's exception type only (details in the worker log). A lost lease ends the process
quietly: the attempt that holds the job now owns every write.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable

from app.contract.errors import JobInputError
from app.contract.jobs import Toolkit
from app.crud.job_queue import Lease, LeaseLost, fail
from app.db.models import TrainingJob
from app.db.session import make_engine, make_sessionmaker
from app.jobs.context import JobContext, JobSpec, LogTail
from app.plugins import TrainingNotInstalled
from app.settings import Settings

logger = logging.getLogger(__name__)
Attempt = Callable[[JobContext, Toolkit], None]


def run_child(
    settings: Settings,
    job_id: uuid.UUID,
    owner: str,
    attempt: int,
    toolkit: Callable[[], Toolkit],
    run: Attempt,
) -> int:
    """Run one attempt of ``job_id`` with the toolkit ``toolkit()`` builds; return the exit code.

    A toolkit that cannot be built here (no training extra) fails the job with that message.
    """
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    tail = LogTail()
    logging.getLogger().addHandler(tail)
    lease = Lease(job_id, owner, attempt)
    try:
        with sessions() as session:
            row = session.get(TrainingJob, job_id)
            if row is None or row.lease_owner != owner or row.attempt != attempt:
                return 0
            ctx = JobContext(settings, sessions, lease, JobSpec.of(row), tail)
        try:
            run(ctx, toolkit())
        except LeaseLost:
            logger.warning("job %s attempt %d lost its lease; stopping", job_id, attempt)
            return 0
        except (JobInputError, TrainingNotInstalled) as exc:
            _fail(ctx, str(exc))
        except Exception as exc:
            logger.exception("job %s attempt %d failed", job_id, attempt)
            _fail(ctx, f"internal error ({type(exc).__name__}); see the worker log")
        return 0
    finally:
        logging.getLogger().removeHandler(tail)
        engine.dispose()


def _fail(ctx: JobContext, message: str) -> None:
    logger.error("job %s failed: %s", ctx.job.id, message)
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    with ctx.sessions() as session:
        fail(session=session, lease=ctx.lease, error=message, log_tail=ctx.tail.text())
