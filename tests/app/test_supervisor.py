"""``medrec serve --workers 2``: a socket per worker, connections spread, restarts, clean stops.

Runs the real command in a subprocess on 127.0.0.1 (SQLite in a temp home), bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from app.settings import Settings
from app.supervisor import listening_socket
from tests.app.server import ROOT, free_port, prepare_home, start, stop, wait_ready

pytestmark = pytest.mark.slow


def test_listening_sockets_share_a_port_and_speak_tcp() -> None:
    first = listening_socket("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with listening_socket("127.0.0.1", port) as second:
            assert second.getsockname()[1] == port
            # asyncio sets TCP_NODELAY only on sockets whose proto is TCP
            assert first.proto == second.proto == socket.IPPROTO_TCP
            assert second.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    finally:
        first.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Settings, str]]:
    """``medrec serve --workers 2`` of the tiny gamenet, with an admin key."""
    settings, key = prepare_home(tmp_path / "home", f"sqlite:///{tmp_path}/medrec.db")
    port = free_port()
    server = start(settings, port, MEDREC_WORKERS="2")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        yield server, base, settings, key
    finally:
        stop(server)


def _workers(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The worker processes (the supervisor's children that serve; not multiprocessing's helper)."""
    children = psutil.Process(server.pid).children()
    return [c for c in children if "multiprocessing.resource_tracker" not in " ".join(c.cmdline())]


def test_connections_are_spread_over_the_workers(
    served: tuple[subprocess.Popen[bytes], str, Settings, str],
) -> None:
    server, base, _, key = served
    port = int(base.rsplit(":", 1)[1])
    clients = [httpx.Client(base_url=base, headers={"X-API-Key": key}) for _ in range(24)]
    with contextlib.ExitStack() as stack:
        for client in clients:
            stack.enter_context(client)
            assert client.get("/v1/models").status_code == 200  # the connection stays open
        held = []
        for worker in _workers(server):
            conns = worker.net_connections(kind="tcp")
            held.append(sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                            for c in conns))  # fmt: skip
    assert len(held) == 2 and sum(held) == 24
    assert min(held) > 0  # all 24 in one worker: P = 2**-23 if spread at random


def test_a_worker_that_dies_is_replaced_and_a_sigterm_stops_all(
    served: tuple[subprocess.Popen[bytes], str, Settings, str],
) -> None:
    server, base, _, key = served
    before = {w.pid for w in _workers(server)}
    victim = psutil.Process(min(before))
    victim.kill()
    victim.wait(10)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = {w.pid for w in _workers(server)}
        if len(now) == 2 and now != before:
            break
        time.sleep(0.2)
    assert len(now) == 2 and victim.pid not in now
    wait_ready(base)
    for _ in range(20):  # fresh connections reach either worker, the new one too
        r = httpx.get(f"{base}/v1/models", headers={"X-API-Key": key}, timeout=10)
        assert r.status_code == 200
    workers = _workers(server)
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    settings, _ = prepare_home(tmp_path / "home", f"sqlite:///{tmp_path}/medrec.db")
    with socket.socket() as taken:  # no SO_REUSEPORT: nobody may share it
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {**os.environ, "MEDREC_HOME": str(settings.home),
               "MEDREC_DATABASE_URL": settings.database_url}  # fmt: skip
        command = [sys.executable, "-m", "app.cli", "serve", "--workers", "2"]
        done = subprocess.run([*command, "--port", str(port)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
