from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from app.api.deps import get_registry
from app.inference.registry import ModelRegistry


def test_healthz_is_constant(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert len(r.headers["x-request-id"]) == 32
    assert uuid.UUID(r.headers["x-request-id"]).version == 7  # time-ordered in the audit index


def test_readyz_needs_a_loaded_model(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["model"] == "gamenet@1"
    client.app.dependency_overrides[get_registry] = ModelRegistry  # type: ignore[attr-defined]
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"


def test_metrics_exposes_requests_and_model_info(
    client: TestClient, clinician: dict[str, str]
) -> None:
    r = client.post("/v1/recommendations", json={"visits": [{}]}, headers=clinician)
    assert r.status_code == 200, r.text
    text = client.get("/metrics").text
    assert 'medrec_requests_total{method="POST",route="/v1/recommendations",status="200"}' in text
    assert 'medrec_model_info{name="gamenet"' in text
    assert "medrec_inference_seconds_bucket" in text
