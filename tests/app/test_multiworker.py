"""A real ``medrec serve --workers 2``: activation reaches every worker; metrics add up.

Runs uvicorn in a subprocess on 127.0.0.1 with a database of its own (PostgreSQL: a new
schema), bounded in requests and time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.admin import create_key, register_model, upgrade_db
from app.settings import Settings
from tests.app.factories import patient, write_recommender_artifact
from tests.app.jobs.databases import fresh_database
from tests.app.server import ROOT, free_port, wait_ready

pytestmark = pytest.mark.slow
POLL_SECONDS = 0.5
# Activation reaches a worker at its next registry poll, plus the load of the new version.
SWITCH_BOUND_SECONDS = POLL_SECONDS + 2.0


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str, str]]:
    """Two workers serving gamenet v1, with an empty database of the run's backend."""
    with fresh_database(settings.database_url, tmp_path) as url:
        home = tmp_path / "home"
        mine = Settings(
            _env_file=None, home=home, database_url=url, registry_poll_seconds=POLL_SECONDS
        )
        upgrade_db(mine)
        write_recommender_artifact(home / "v1")
        register_model(mine, home / "v1", activate=True)
        key = create_key(mine, role="clinician", name="load")
        port = free_port()
        env = {
            **os.environ,
            "MEDREC_HOME": str(home),
            "MEDREC_DATABASE_URL": url,
            "MEDREC_REGISTRY_POLL_SECONDS": str(POLL_SECONDS),
            "MEDREC_EMBEDDED_WORKER": "false",
            "MEDREC_LOG_LEVEL": "warning",
            "OMP_NUM_THREADS": "1",
        }
        cmd = [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(port)]
        server = subprocess.Popen(cmd, cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base)
            yield mine, base, key
        finally:
            server.terminate()
            server.wait(timeout=30)


def _recommend(
    base: str, key: str, n: int, stop_at: list[float] | None = None
) -> list[tuple[float, float, int, int | None]]:
    """Up to ``n`` requests on one connection, until ``stop_at[0]`` (monotonic) if given.

    Returns (send time, answer time, status, model version) per request.
    """
    out = []
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:
        for _ in range(n):
            if stop_at is not None and time.monotonic() > stop_at[0]:
                break
            sent = time.monotonic()
            r = client.post("/v1/recommendations", json=patient())
            version = r.json()["model"]["version"] if r.status_code == 200 else None
            out.append((sent, time.monotonic(), r.status_code, version))
    return out


def test_an_activation_under_load_reaches_every_worker_within_the_bound(
    served: tuple[Settings, str, str],
) -> None:
    settings, base, key = served
    write_recommender_artifact(settings.home / "v2", version=2, seed=1)
    stop_at = [float("inf")]  # the load runs until a while past the switch-over bound
    with ThreadPoolExecutor(8) as pool:
        loads = [pool.submit(_recommend, base, key, 20_000, stop_at) for _ in range(8)]
        time.sleep(1.0)
        registering = time.monotonic()
        register_model(settings, settings.home / "v2", activate=True)
        switched = time.monotonic()
        stop_at[0] = switched + SWITCH_BOUND_SECONDS + 1.5
        answers = [a for f in loads for a in f.result()]
    assert all(status == 200 for _, _, status, _ in answers), "no request may fail"
    # The activation commits somewhere inside register_model, so only an answer received
    # before it was called must be v1, and only a request sent after it returned (plus the
    # bound) must be v2.
    after = [v for sent, _, _, v in answers if sent > switched + SWITCH_BOUND_SECONDS]
    before = [v for _, answered, _, v in answers if answered < registering]
    assert before and set(before) == {1}
    assert after, "no request was sent after the switch-over bound"
    assert set(after) == {2}


def test_metrics_add_up_across_workers(served: tuple[Settings, str, str]) -> None:
    _, base, key = served
    with ThreadPoolExecutor(4) as pool:
        done = sum(
            len(f.result()) for f in [pool.submit(_recommend, base, key, 25) for _ in range(4)]
        )
    pattern = (
        r'medrec_requests_total\{method="POST",route="/v1/recommendations",status="200"\} (\S+)'
    )
    for _ in range(6):  # each scrape may reach either worker: every one must see all requests
        text = httpx.get(f"{base}/metrics", timeout=5).text
        [count] = re.findall(pattern, text)
        assert float(count) == done
    assert re.search(r'medrec_model_info\{[^}]*name="gamenet"[^}]*pid="\d+"', text)
