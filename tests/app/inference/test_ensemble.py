"""The ensemble artifact served like any recommender: registered, activated, scored by the API
and by the promotion gate's evaluation, within 1e-5 of the ensemble's numpy definition."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

pytest.importorskip("torch", reason="building an ensemble artifact needs the training extra")

from app.inference.registry import ModelRegistry  # noqa: E402
from app.jobs.evaluation import load_recommender, score_patients  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.training.ensemble.conftest import EnsembleRun, make_ensemble_run  # noqa: E402
from tests.training.ensemble.test_export import numpy_ensemble, raw_visits  # noqa: E402
from training.export.runner import export_run  # noqa: E402

PARITY = 1e-5


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[EnsembleRun, Path]:
    root = tmp_path_factory.mktemp("served-ensemble")
    run = make_ensemble_run(root)
    export_run(run.ensemble, root / "artifact", version=2)
    return run, root / "artifact"


def _body(visits: list[dict[str, object]]) -> dict[str, object]:
    return {"visits": visits, "model": "ensemble", "threshold": 0.0, "top_k": 500}


def _json_visits(patient_visits: list) -> list[dict[str, object]]:
    return [
        {
            "diagnoses": [{"system": s, "code": c} for s, c in v.diagnoses],
            "procedures": [{"system": s, "code": c} for s, c in v.procedures],
            "medications": list(v.medications),
        }
        for v in patient_visits
    ]


@pytest.mark.slow
def test_the_api_registers_activates_and_serves_the_ensemble(
    built, client: TestClient, admin: dict[str, str], clinician: dict[str, str],
    registry: ModelRegistry, settings: Settings,
) -> None:  # fmt: skip
    run, artifact = built
    path = settings.artifacts_dir / uuid.uuid4().hex / "ensemble-2"
    shutil.copytree(artifact, path)
    r = client.post("/v1/models", json={"path": str(path), "activate": True}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["loaded"]
    assert registry.get("ensemble").version == 2
    assert registry.get("gamenet").version == 1  # the other recommender still serves
    ensemble, patients = numpy_ensemble(run)
    expected = ensemble.predict(patients[:6])
    with_evidence = 0
    for patient, rows in zip(patients[:6], expected, strict=True):
        last = len(patient.visits) - 1
        r = client.post(
            "/v1/recommendations",
            json=_body(_json_visits(raw_visits(patient, last))),
            headers=clinician,
        )
        assert r.status_code == 200, r.text
        answer = r.json()
        assert (answer["model"]["name"], answer["model"]["version"]) == ("ensemble", 2)
        served = {m["atc3"]: m["probability"] for m in answer["medications"]}
        got = np.array([served[m] for m in ensemble.med_vocab])
        assert np.abs(got - rows[last]).max() <= PARITY
        with_evidence += any(m["evidence"] for m in answer["medications"])
    assert with_evidence >= 1  # evidence by occlusion, through the combined output


@pytest.mark.slow
def test_the_promotion_gates_evaluation_scores_it_as_defined(built) -> None:
    run, artifact = built
    ensemble, patients = numpy_ensemble(run)
    recommender = load_recommender(artifact)
    scored = score_patients(
        recommender, [raw_visits(p, len(p.visits) - 1) for p in patients], ensemble.med_vocab
    )
    for got, expected in zip(scored, ensemble.predict(patients), strict=True):
        assert np.abs(got - expected).max() <= PARITY
