from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.demo import DEMO_REQUEST, DemoConfig, prepare_demo
from app.main import create_app
from app.settings import Settings


@pytest.mark.slow
def test_demo_serves_the_documented_request_with_ddi_pairs_and_genn_risk(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "var", environment="test", registry_poll_seconds=0)
    result = prepare_demo(settings, DemoConfig(patients=300, epochs=1, genn_epochs=2))
    again = prepare_demo(settings, DemoConfig(patients=300, epochs=1, genn_epochs=2))
    assert again.artifacts == result.artifacts  # a second demo reuses the first one's work

    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/recommendations",
            json={**DEMO_REQUEST, "top_k": 8},
            headers={"X-API-Key": result.clinician_key},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"]["name"] == "gamenet"
        assert any("NOT FOR CLINICAL USE" in w for w in body["warnings"])
        assert len(body["medications"]) == 8
        assert all(m["evidence"] for m in body["medications"])
        pairs = body["ddi"]["pairs"]
        assert len(pairs) == 8 * 7 // 2
        assert all(p["predicted_risk"] is not None for p in pairs)

        admin_only = client.get("/v1/models", headers={"X-API-Key": result.clinician_key})
        assert admin_only.status_code == 403
        models = client.get("/v1/models", headers={"X-API-Key": result.admin_key})
        assert {m["name"] for m in models.json()["data"]} == {"gamenet", "genn"}
