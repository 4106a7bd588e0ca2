from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.deps import get_app_settings
from app.crud.ddi import DdiRow, load_interactions
from app.crud.vocab import VocabRow, load_vocab
from app.services.vocab_csv import parse_vocab_csv
from app.settings import Settings
from tests.app.factories import MEDS, patient

URL = "/v1/recommendations"


def test_recommendation_has_model_meds_evidence_ddi(
    client: TestClient, clinician: dict[str, str], session: Session
) -> None:
    load_interactions(
        session=session,
        rows=[DdiRow("B01A", "N02B", ("bleeding",), "high", "test-kb")],
        source_version="1",
        replace=False,
    )
    body = {**patient(3), "threshold": 0.0}
    r = client.post(URL, json=body, headers=clinician)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["model"]["name"] == "gamenet" and data["model"]["version"] == 1
    assert len(data["model"]["sha256"]) == 64 and data["model"]["synthetic"] is True
    assert data["model"]["intended_use"] and data["model"]["metrics"]["test"]["jaccard"]
    meds = data["medications"]
    assert [m["probability"] for m in meds] == sorted(
        (m["probability"] for m in meds), reverse=True
    )
    assert any(m["evidence"] for m in meds)
    pairs = {(p["atc3_a"], p["atc3_b"]): p for p in data["ddi"]["pairs"]}
    n = len(meds)
    assert len(pairs) == n * (n - 1) // 2
    known = pairs[("B01A", "N02B")]
    assert known["known"] and known["severity"] == "high"
    assert known["interactions"][0]["source"] == "test-kb"
    assert known["predicted_risk"] is None and known["model"] is None
    assert data["ddi"]["ddi_rate"] == 1 / len(pairs)
    assert data["unknown_codes"] == []
    assert any("not for clinical use" in w.lower() for w in data["warnings"])


def test_unknown_codes_and_top_k(client: TestClient, clinician: dict[str, str]) -> None:
    body = patient(2)
    body["visits"][-1]["diagnoses"].append({"system": "icd10cm", "code": "Z99.89"})
    body["top_k"] = 1
    body["threshold"] = 0.0
    r = client.post(URL, json=body, headers=clinician)
    assert r.status_code == 200, r.text
    assert len(r.json()["medications"]) == 1
    [unknown] = r.json()["unknown_codes"]
    assert unknown == {
        "visit": 1,
        "field": "diagnoses",
        "index": 2,
        "system": "icd10cm",
        "code": "Z9989",
        "reason": "not_in_model_vocabulary",
    }


def test_model_selection(client: TestClient, clinician: dict[str, str]) -> None:
    assert client.post(URL, json={**patient(), "model": "gamenet@1"}, headers=clinician).is_success
    r = client.post(URL, json={**patient(), "model": "gamenet@2"}, headers=clinician)
    assert r.status_code == 404
    r = client.post(URL, json={**patient(), "model": "gbert"}, headers=clinician)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_validation_errors_name_fields_without_echoing_values(
    client: TestClient, clinician: dict[str, str]
) -> None:
    secret = "V8$SECRET"
    body = {
        "visits": [{"diagnoses": [{"system": "icd9cm", "code": secret}], "extra": "PHI-NAME"}],
        "top_k": 0,
    }
    r = client.post(URL, json=body, headers=clinician)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert secret not in r.text and "PHI-NAME" not in r.text
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert ("body", "visits", 0, "diagnoses", 0, "code") in locs
    assert ("body", "visits", 0) in locs and "PHI-NAME" not in r.text
    assert ("body", "top_k") in locs


def test_visit_and_code_limits(client: TestClient, clinician: dict[str, str]) -> None:
    visit = {"diagnoses": [{"system": "icd9cm", "code": "4019"}]}
    r = client.post(URL, json={"visits": [visit] * 101}, headers=clinician)
    assert r.status_code == 422
    many = {"diagnoses": [{"system": "icd9cm", "code": "4019"}] * 501}
    r = client.post(URL, json={"visits": [many]}, headers=clinician)
    assert r.status_code == 422
    assert client.post(URL, json={"visits": [visit] * 100}, headers=clinician).is_success


def test_server_limits_from_settings(
    app: FastAPI, client: TestClient, clinician: dict[str, str], settings: Settings
) -> None:
    strict = settings.model_copy(update={"max_visits": 2, "max_codes_per_visit": 3})
    app.dependency_overrides[get_app_settings] = lambda: strict
    r = client.post(URL, json=patient(3), headers=clinician)
    assert r.status_code == 422 and "limits" in r.json()["detail"]
    assert client.post(URL, json=patient(2), headers=clinician).status_code == 200


def _single_class_codes(path: Path, column: str, classes: set[str]) -> dict[str, str]:
    """Codes of ``column`` in the shared NDC map whose rows name one class of ``classes``."""
    found: dict[str, set[str]] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row[column]:
                found.setdefault(row[column], set()).update(
                    a[:4] for a in row["atc4"].split(";") if a
                )
    return {code: next(iter(c)) for code, c in found.items() if len(c) == 1 and c <= classes}


@pytest.mark.data
def test_rxnorm_and_ndc_history_recommends_as_its_atc_equivalent(
    client: TestClient, clinician: dict[str, str], session: Session, shared_data: Path
) -> None:
    path = shared_data / "mappings" / "ndc2atc.csv"
    load_vocab(session=session, rows=parse_vocab_csv(path.read_text()), source_version="t",
               replace=False)  # fmt: skip
    ndc = _single_class_codes(path, "ndc", set(MEDS))
    rxnorm = _single_class_codes(path, "rxcui", set(MEDS))
    picked = {"ndc": {}, "rxnorm": {}}  # one code per class the map reaches
    for system, codes in (("ndc", ndc), ("rxnorm", rxnorm)):
        for code, cls in sorted(codes.items()):
            picked[system].setdefault(cls, code)
    classes = sorted(set(picked["ndc"]) & set(picked["rxnorm"]))
    assert len(classes) >= 3, "the shared map should reach several of the test model's classes"

    def body(meds: list[object]) -> dict[str, object]:
        data = patient(2)
        data["visits"][0]["medications"] = meds
        return {**data, "threshold": 0.0}

    as_atc = client.post(URL, json=body(classes), headers=clinician).json()
    for system in ("ndc", "rxnorm"):
        meds = [{"system": system, "code": picked[system][c]} for c in classes]
        coded = client.post(URL, json=body(meds), headers=clinician).json()
        assert coded["medications"] == as_atc["medications"], system
        assert coded["unknown_codes"] == as_atc["unknown_codes"] == []
    empty = client.post(URL, json=body(classes[:1]), headers=clinician).json()
    assert empty["medications"] != as_atc["medications"]  # the history does change the answer


def test_unmapped_medication_codes_are_listed_with_a_reason(
    client: TestClient, clinician: dict[str, str]
) -> None:
    data = patient(2)
    data["visits"][0]["medications"] = [{"system": "rxnorm", "code": "866924"}, "C07A"]
    r = client.post(URL, json=data, headers=clinician).json()
    assert r["unknown_codes"] == [
        {"visit": 0, "field": "medications", "index": 0, "system": "rxnorm", "code": "866924",
         "reason": "no_code_map_loaded"}
    ]  # fmt: skip


def test_loaded_maps_give_reasons_and_display_names(
    client: TestClient, clinician: dict[str, str], session: Session
) -> None:
    rows = [VocabRow("rxnorm", "1", "C07A"), VocabRow("atc", "C07A", "C07A", "Beta blockers")]
    load_vocab(session=session, rows=rows, source_version="t", replace=False)
    data = patient(2)
    data["visits"][0]["medications"] = ["B01A", {"system": "rxnorm", "code": "866924"}]
    r = client.post(URL, json={**data, "threshold": 0.0}, headers=clinician).json()
    assert [(u["index"], u["reason"]) for u in r["unknown_codes"]] == [(1, "no_atc_mapping")]
    shown = {m["atc3"]: m["display"] for m in r["medications"]}
    assert shown["C07A"] == "Beta blockers" and shown["B01A"] is None


def test_code_systems_are_checked_against_the_models_manifest(
    client: TestClient, clinician: dict[str, str]
) -> None:
    data = patient(1)
    data["visits"][0]["diagnoses"].append({"system": "snomed", "code": "38341003"})
    r = client.post(URL, json=data, headers=clinician)
    assert r.status_code == 422 and "38341003" not in r.text
    [error] = r.json()["errors"]
    assert error["loc"] == ["body", "visits", 0, "diagnoses", 2, "system"]
    assert "icd10cm, icd9cm" in error["msg"]
