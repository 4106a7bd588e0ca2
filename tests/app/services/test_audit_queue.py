"""The audit write-behind queue: batches within the flush interval, fail-closed, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.admin import create_key, upgrade_db
from app.api.deps import get_audit_queue
from app.crud.audit import AuditRecord, count_audit_events
from app.db.session import make_engine
from app.errors import AuditUnavailable
from app.services.audit_queue import AuditQueue
from app.settings import Settings
from tests.app.conftest import PEPPER
from tests.app.factories import patient

ROOT = Path(__file__).resolve().parents[3]


def _event(i: int = 0) -> AuditRecord:
    return AuditRecord(f"req-{i}", None, "GET", "/v1/models", 200, 1.0)


class _Recorder:
    def __init__(self, failures: int = 0) -> None:
        self.batches: list[tuple[float, int]] = []
        self.failures = failures
        self.written = threading.Event()

    def __call__(self, events: Sequence[AuditRecord]) -> None:
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))
        self.batches.append((time.monotonic(), len(events)))
        self.written.set()


def test_events_are_written_in_batches_within_the_flush_interval() -> None:
    recorder = _Recorder()
    queue = AuditQueue(recorder, max_size=1000, flush_seconds=0.05)
    queue.start()
    start = time.monotonic()
    for i in range(100):
        queue.put(_event(i))
    assert recorder.written.wait(2.0)
    assert recorder.batches[0][0] - start < 0.05 + 0.25  # the interval, plus a loaded machine
    queue.close()
    assert sum(n for _, n in recorder.batches) == 100 and len(recorder.batches) < 100
    assert len(queue) == 0


def test_a_full_queue_refuses_and_a_failed_batch_is_retried_not_lost() -> None:
    recorder = _Recorder(failures=1)
    queue = AuditQueue(recorder, max_size=3, flush_seconds=0.01)
    for i in range(3):
        queue.put(_event(i))
    with pytest.raises(AuditUnavailable):
        queue.put(_event(3))
    queue.start()  # the first write fails; the batch stays queued and is written on retry
    assert recorder.written.wait(5.0)
    queue.close()
    assert [n for _, n in recorder.batches] == [3]
    with pytest.raises(AuditUnavailable):  # closed: nothing more is taken
        queue.put(_event(4))


def test_a_full_queue_answers_503_instead_of_an_unaudited_answer(
    app: FastAPI, client: TestClient, clinician: dict[str, str]
) -> None:
    app.dependency_overrides[get_audit_queue] = lambda: AuditQueue(
        _Recorder(), max_size=0, flush_seconds=1.0
    )
    r = client.post("/v1/recommendations", json=patient(), headers=clinician)
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Audit log unavailable"


# uvicorn's own supervisor, and the one `medrec serve --workers 2` runs (app/supervisor.py)
SERVERS = {
    "uvicorn": ["-m", "uvicorn", "--factory", "app.main:asgi", "--workers", "2"],
    "medrec serve": ["-m", "app.cli", "serve", "--no-migrate", "--workers", "2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("server_command", SERVERS.values(), ids=SERVERS.keys())
def test_1000_audited_requests_then_sigterm_leave_exactly_1000_rows(
    tmp_path: Path, server_command: list[str]
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        home=tmp_path,
        api_key_pepper=PEPPER,  # type: ignore[arg-type]
    )
    upgrade_db(settings)
    key = create_key(settings, role="admin", name="audit-test")
    port = _free_port()
    env = {
        **os.environ,
        "MEDREC_HOME": str(tmp_path),
        "MEDREC_DATABASE_URL": settings.database_url,
        "MEDREC_API_KEY_PEPPER": PEPPER,
        "MEDREC_ENVIRONMENT": "test",
        "MEDREC_AUDIT_FLUSH_SECONDS": "60",  # no periodic flush: only the shutdown writes
        "MEDREC_LOG_LEVEL": "warning",
    }
    command = [sys.executable, *server_command, "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:
            statuses = [client.get("/v1/models").status_code for _ in range(1000)]
        assert statuses == [200] * 1000
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    engine = make_engine(settings)
    with engine.connect() as conn, Session(bind=conn) as session:
        assert count_audit_events(session=session) == 1000
    engine.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(base: str) -> None:
    for _ in range(300):
        try:
            httpx.get(f"{base}/healthz")
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")
