"""Fault tests against a real ``medrec serve`` on 127.0.0.1 (issue 16), bounded in count and time.

- SIGTERM with 20 requests in flight: uvicorn stops accepting, and all 20 complete.
- The database goes away and comes back (PostgreSQL behind a loopback TCP proxy that is cut
  and restored, ``tests/app/tcp_proxy.py``): ``/readyz`` fails, then recovers; no request hangs.
- SIGKILL during an upload's extraction: after a restart, no job directory, row or temporary
  file is left (the start-up orphan sweep, ``app.jobs.cleanup``).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.app.conftest import _pg_schema_url
from tests.app.factories import patient
from tests.app.server import free_port, prepare_home, serving, start, stop, wait_ready
from tests.app.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow
IN_FLIGHT = 20
HANG_SECONDS = 5.0  # every answer during the outage must come within this
MEMBERS = 80_000  # files in the upload: extraction takes seconds, a window for the kill


def _send_half(port: int, key: str, body: bytes) -> socket.socket:
    """Open a request and send its headers and half its body: the server is mid-request."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        "POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-API-Key: {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock


def _finish(sock: socket.socket, body: bytes) -> tuple[int, dict[str, object]]:
    """Send the rest of the body; return the status and the JSON answer."""
    with sock:
        sock.sendall(body[len(body) // 2 :])
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        raise AssertionError("expected a Content-Length answer")
    return status, json.loads(payload)


def test_sigterm_lets_twenty_requests_in_flight_complete(tmp_path: Path) -> None:
    settings, key = prepare_home(tmp_path / "home", f"sqlite:///{tmp_path / 'medrec.db'}")
    port = free_port()
    server = start(settings, port)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        body = json.dumps(patient()).encode()
        socks = [_send_half(port, key, body) for _ in range(IN_FLIGHT)]
        time.sleep(1.0)  # uvicorn accepts and starts all 20 (each waits for its body)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the server is shutting down: no new connection is accepted
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            answers = list(pool.map(lambda s: _finish(s, body), socks))
        assert [status for status, _ in answers] == [200] * IN_FLIGHT
        assert all(answer["medications"] for _, answer in answers)
        # It exits by itself once they are answered (uvicorn may re-raise the signal it caught).
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        stop(server)


@pytest.fixture
def pg_schema(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL schema's URL (skips when PostgreSQL is unreachable)."""
    yield from _pg_schema_url(tmp_path)


@pytest.mark.db
def test_the_database_goes_away_and_comes_back(pg_schema: str, tmp_path: Path) -> None:
    settings, key = prepare_home(tmp_path / "home", pg_schema)
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.up()
    proxied = pg_schema.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    # No key cache: every /v1 request reads the database, so the outage reaches it.
    with serving(
        settings.model_copy(update={"database_url": proxied}), MEDREC_API_KEY_CACHE_SECONDS="0"
    ) as (_, base):
        client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=HANG_SECONDS)
        with client:
            assert client.post("/v1/recommendations", json=patient()).status_code == 200
            proxy.down()
            outage = [client.get("/readyz").status_code for _ in range(3)]
            during = client.post("/v1/recommendations", json=patient())
            assert outage == [503, 503, 503]
            assert during.status_code == 503, during.text
            assert during.headers["content-type"] == "application/problem+json"
            proxy.up()
            _wait_for(lambda: client.get("/readyz").status_code == 200, seconds=10)
            assert client.post("/v1/recommendations", json=patient()).status_code == 200
    proxy.down()


def _wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not recovered within {seconds} s")


def _many_members(count: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(count):
            zf.writestr(f"export/part-{i:05d}.csv", b"SUBJECT_ID,HADM_ID\n" * 20)
    return buf.getvalue()


def test_a_kill_during_extraction_leaves_nothing_after_restart(tmp_path: Path) -> None:
    home, spool = tmp_path / "home", tmp_path / "spool"
    spool.mkdir()
    settings, key = prepare_home(home, f"sqlite:///{tmp_path / 'medrec.db'}")
    env = {
        "MEDREC_ORPHAN_GRACE_SECONDS": "0",  # the restart below is the next start-up
        "MEDREC_MAX_ARCHIVE_FILES": "100000",
        "TMPDIR": str(spool),  # where the multipart parser spools the upload
    }
    archive = _many_members(MEMBERS)
    port = free_port()
    server = start(settings, port, **env)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        upload = threading.Thread(target=_upload, args=(port, key, archive), daemon=True)
        upload.start()
        extracting = _wait_for_extraction(home / "jobs", seconds=30)
        os.killpg(server.pid, signal.SIGKILL)  # the server and any process it started
        server.wait(timeout=10)
        upload.join(timeout=10)
    finally:
        stop(server)
    members = sum(1 for p in extracting.rglob("*.csv"))
    assert 0 < members < MEMBERS, "the kill must land mid-extraction"
    with serving(settings, **env) as (_, base):
        jobs = httpx.get(f"{base}/v1/training-jobs", headers={"X-API-Key": key}, timeout=10)
        assert jobs.json()["count"] == 0
        assert list((home / "jobs").iterdir()) == []
    # The multipart parser spools the upload (over 1 MiB) here; a library's 51-byte session
    # marker is the one other file.
    assert [p.name for p in spool.iterdir() if p.stat().st_size > 1 << 20] == []


def _upload(port: int, key: str, archive: bytes) -> None:
    files = {"file": ("export.zip", archive, "application/zip")}
    url = f"http://127.0.0.1:{port}/v1/training-jobs"
    try:
        httpx.post(url, headers={"X-API-Key": key}, files=files, data={"format": "mimic3"})
    except httpx.TransportError:
        pass  # the server was killed under it


def _wait_for_extraction(jobs: Path, seconds: float) -> Path:
    """The job directory whose ``input`` has started filling."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for job in jobs.glob("*/input/export"):
            if next(job.iterdir(), None) is not None:
                return job.parent.parent
        time.sleep(0.005)
    raise AssertionError(f"extraction did not start within {seconds} s")
