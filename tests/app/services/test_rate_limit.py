"""Per-key rate limits in a real Redis (127.0.0.1:6379), shared by two apps as two workers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.inference.registry import ModelRegistry
from app.main import create_app
from app.settings import Settings
from tests.app.conftest import inject

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS, socket_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis unreachable at {REDIS}; the rate-limit tests are skipped")
    return REDIS


@contextlib.contextmanager
def _clients(
    settings: Settings, session: Session, registry: ModelRegistry, n: int
) -> Iterator[list[TestClient]]:
    apps = [inject(create_app(settings), session, registry) for _ in range(n)]
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(TestClient(app)) for app in apps]


def test_the_limit_holds_across_workers_with_retry_after(
    settings: Settings,
    session: Session,
    registry: ModelRegistry,
    clinician: dict[str, str],
    admin: dict[str, str],
    redis_url: str,
) -> None:
    limited = settings.model_copy(
        update={"rate_limit_redis_url": redis_url, "rate_limit_per_minute": 5}
    )
    with _clients(limited, session, registry, 2) as (first, second):
        statuses = [
            (first if i % 2 else second).get("/v1/interactions?drugs=N02B,B01A", headers=clinician)
            for i in range(7)
        ]
        assert [r.status_code for r in statuses][:5] == [200] * 5
        over = statuses[5]
        assert over.status_code == 429 and statuses[6].status_code == 429
        assert over.headers["content-type"] == "application/problem+json"
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        # another key has its own budget
        assert first.get("/v1/models", headers=admin).status_code == 200


@pytest.mark.parametrize(("fail_open", "status"), [(True, 200), (False, 503)])
def test_an_unreachable_store_fails_open_or_closed_as_set(
    settings: Settings,
    session: Session,
    registry: ModelRegistry,
    clinician: dict[str, str],
    fail_open: bool,
    status: int,
) -> None:
    down = settings.model_copy(
        update={"rate_limit_redis_url": "redis://127.0.0.1:1/0", "rate_limit_fail_open": fail_open}
    )
    with _clients(down, session, registry, 1) as [client]:
        r = client.get("/v1/interactions?drugs=N02B,B01A", headers=clinician)
        assert r.status_code == status
