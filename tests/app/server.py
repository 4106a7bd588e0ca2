"""A real ``medrec serve`` in a subprocess on 127.0.0.1, for tests that need the process itself."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from app.admin import create_key, register_model, upgrade_db
from app.settings import Settings
from tests.app.factories import write_recommender_artifact

ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 60


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, seconds: float = READY_SECONDS) -> None:
    """Poll ``/readyz`` until it answers 200; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"the server did not become ready in {seconds} s")


def prepare_home(home: Path, database_url: str, role: str = "admin") -> tuple[Settings, str]:
    """Migrate the database, serve the tiny gamenet v1; return the settings and a key."""
    settings = Settings(_env_file=None, home=home, database_url=database_url)
    upgrade_db(settings)
    write_recommender_artifact(home / "artifacts" / "gamenet-v1")
    register_model(settings, home / "artifacts" / "gamenet-v1", activate=True)
    return settings, create_key(settings, role=role, name="faults")


def start(settings: Settings, port: int, **env: str) -> subprocess.Popen[bytes]:
    """Start ``medrec serve`` (one worker, no job worker) on ``port``; ``env`` adds settings.

    In a session of its own: a test kills its whole process group, as a crash would.
    """
    variables = {
        **os.environ,
        "MEDREC_HOME": str(settings.home),
        "MEDREC_DATABASE_URL": settings.database_url,
        "MEDREC_EMBEDDED_WORKER": "false",
        "MEDREC_LOG_LEVEL": "warning",
        "OMP_NUM_THREADS": "1",
        **env,
    }
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, cwd=ROOT, env=variables, start_new_session=True)


@contextlib.contextmanager
def serving(settings: Settings, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A ready server and its base URL; stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    server = start(settings, port, **env)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        yield server, f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def stop(server: subprocess.Popen[bytes]) -> None:
    """Terminate ``server`` and reap it, killing it after 30 s."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
