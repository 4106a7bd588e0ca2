"""The job worker loop: claim a job, train it in a child process, keep its lease alive.

``medrec worker`` runs :meth:`JobWorker.run_forever`; the service's lifespan runs the same loop
in a thread when ``settings.runs_embedded_worker``. Training happens in a separate process
(``python -m app.jobs.worker``), so the serving process never imports torch and a crash in
training cannot take the service down.

While the child runs, this loop renews the lease every ``job_heartbeat_seconds``. If renewal
fails (the job was cancelled, or the lease expired and another worker took the job) the child is
killed. If this worker is killed, the child exits on its own (it watches its parent) and the
lease runs out, so another worker (or this one, restarted) claims the job and re-runs it from the
start (the GAMENet trainer has no resume); the fenced final commit makes it complete exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.crud.job_queue import Lease, LeaseLost, claim_next, fail, heartbeat
from app.db.models import TrainingJob
from app.db.session import make_engine, make_sessionmaker
from app.settings import Settings

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]


def worker_id() -> str:
    """A unique lease owner: host, pid and a random suffix."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobWorker:
    """Claims and supervises jobs one at a time.

    Args:
        settings: database, lease timings and the toolkit the child uses.
        owner: the lease owner name (default: :func:`worker_id`).
    """

    def __init__(self, settings: Settings, owner: str | None = None) -> None:
        self.settings = settings
        self.owner = owner or worker_id()
        self.stopping = threading.Event()
        self._engine = make_engine(settings)
        self._sessions = make_sessionmaker(self._engine)
        self._child: subprocess.Popen[bytes] | None = None

    def run_forever(self) -> None:
        """Work until :meth:`stop` is called."""
        logger.info("job worker %s started", self.owner)
        try:
            while not self.stopping.is_set():
                try:
                    worked = self.run_once()
                except SQLAlchemyError as exc:  # DB down or not migrated: retry, never die
                    logger.warning("job worker: database unavailable (%s)", type(exc).__name__)
                    worked = False
                if not worked:
                    self.stopping.wait(self.settings.job_poll_seconds)
        finally:
            self.close()

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def stop(self) -> None:
        """Stop after killing the current child (its job's lease then runs out)."""
        self.stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.kill()

    def run_once(self, job_id: uuid.UUID | None = None) -> bool:
        """Claim and run one job (any, or ``job_id``) to its end; return whether there was one."""
        s = self.settings
        with self._sessions() as session:
            lease = claim_next(
                session=session,
                owner=self.owner,
                lease_seconds=s.job_lease_seconds,
                max_attempts=s.job_max_attempts,
                job_id=job_id,
            )
        if lease is None:
            return False
        logger.info("claimed job %s (attempt %d)", lease.job_id, lease.attempt)
        self._supervise(lease)
        return True

    def _spawn(self, lease: Lease) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        args = [str(lease.job_id), lease.owner, str(lease.attempt)]
        child = subprocess.Popen(
            [sys.executable, "-m", "app.jobs.worker", *args],
            stdin=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        assert child.stdin is not None
        data = self.settings.model_dump(mode="json")
        data["api_key_pepper"] = self.settings.api_key_pepper.get_secret_value()
        child.stdin.write(json.dumps(data).encode())
        child.stdin.close()
        return child

    def _supervise(self, lease: Lease) -> None:
        child = self._child = self._spawn(lease)
        try:
            while True:
                try:
                    code = child.wait(timeout=self.settings.job_heartbeat_seconds)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self.stopping.is_set():
                    child.kill()
                    child.wait()
                    return
                try:
                    with self._sessions() as session:
                        seconds = self.settings.job_lease_seconds
                        heartbeat(session=session, lease=lease, lease_seconds=seconds)
                except LeaseLost:
                    if self._finished_by(lease):  # committed: let it finish the activation
                        child.wait()
                        return
                    logger.warning("job %s: lease lost (cancelled or taken over)", lease.job_id)
                    child.kill()
                    child.wait()
                    self._clean_cancelled(lease)
                    return
        finally:
            self._child = None
        if code != 0:
            with self._sessions() as session:
                fail(
                    session=session,
                    lease=lease,
                    error=f"the training process exited with code {code}; see the worker log",
                )

    def _clean_cancelled(self, lease: Lease) -> None:
        """Remove a cancelled job's files, which its attempt may have written after the cancel.

        A taken-over job's next attempt cleans up after itself.
        """
        with self._sessions() as session:
            job = session.get(TrainingJob, lease.job_id)
            if job is not None and job.state == "cancelled":
                shutil.rmtree(job.job_dir, ignore_errors=True)

    def _finished_by(self, lease: Lease) -> bool:
        """Whether this attempt committed the job (it then holds no lease, by design)."""
        with self._sessions() as session:
            job = session.get(TrainingJob, lease.job_id)
            return job is not None and job.state == "succeeded" and job.attempt == lease.attempt


class EmbeddedWorker:
    """A :class:`JobWorker` in a daemon thread of the service (started by the lifespan)."""

    def __init__(self, settings: Settings) -> None:
        self.worker = JobWorker(settings)
        self.thread = threading.Thread(
            target=self.worker.run_forever, name="medrec-job-worker", daemon=True
        )

    def start(self) -> None:
        """Start the loop."""
        self.thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for it."""
        self.worker.stop()
        self.thread.join(timeout=10)
