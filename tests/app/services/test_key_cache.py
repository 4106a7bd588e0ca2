from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import ApiKey
from app.inference.registry import ModelRegistry
from app.main import create_app
from app.services.key_cache import ApiKeyCache, KeyIdentity
from app.settings import Settings
from tests.app.conftest import inject, make_key

ALICE = KeyIdentity(uuid.uuid4(), "clinician")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache = ApiKeyCache(ttl_seconds=30.0, clock=clock)
    assert cache.get("h") is None
    cache.put("h", ALICE)
    clock.now = 29.9
    assert cache.get("h") == ALICE
    clock.now = 30.0
    assert cache.get("h") is None


def test_zero_ttl_disables_and_size_is_bounded() -> None:
    off = ApiKeyCache(ttl_seconds=0.0)
    off.put("h", ALICE)
    assert off.get("h") is None
    small = ApiKeyCache(ttl_seconds=30.0, max_entries=2)
    for h in ("a", "b", "c"):
        small.put(h, ALICE)
    assert small.get("a") is None and small.get("b") == small.get("c") == ALICE
    small.clear()
    assert small.get("c") is None


def _app(settings: Settings, session: Session, registry: ModelRegistry, ttl: float) -> FastAPI:
    app = inject(
        create_app(settings.model_copy(update={"api_key_cache_seconds": ttl})), session, registry
    )
    return app


def _revoke(session: Session) -> None:
    for row in session.scalars(select(ApiKey)):
        row.revoked_at = utcnow()
    session.commit()


def test_revocation_takes_effect_within_the_ttl(
    settings: Settings, session: Session, registry: ModelRegistry
) -> None:
    headers = make_key(session, "clinician")
    body = {"drugs": ["B01A", "N02B"]}
    with TestClient(_app(settings, session, registry, ttl=3600.0)) as client:
        assert client.post("/v1/interactions", json=body, headers=headers).status_code == 200
        _revoke(session)
        # Cached: still admitted until the TTL runs out (documented bound).
        assert client.post("/v1/interactions", json=body, headers=headers).status_code == 200
    with TestClient(_app(settings, session, registry, ttl=0.0)) as client:
        assert client.post("/v1/interactions", json=body, headers=headers).status_code == 401
