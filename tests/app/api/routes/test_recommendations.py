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
from app.inference.pair_risk import PairRisk, TypeScore, UnknownDrug
from app.inference.pair_table import tabulate
from app.inference.registry import LoadedModel, ModelRegistry
from app.schemas.recommendations import DdiBlock, RecommendationPublic
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
    ddi = data["ddi"]
    n = len(meds)
    assert ddi["pair_count"] == n * (n - 1) // 2 and ddi["known_count"] == 1
    [known] = ddi["pairs"]  # no pair model: only the known interaction is listed
    assert (known["atc3_a"], known["atc3_b"]) == ("B01A", "N02B")
    assert known["known"] and known["severity"] == "high"
    assert known["interactions"][0]["source"] == "test-kb"
    assert known["predicted_risk"] is None
    assert data["pair_model"] is None and ddi["prediction_note"] == "no pair-risk model is active"
    assert ddi["ddi_rate"] == 1 / ddi["pair_count"]
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
    """The schema's caps are the defaults (bench/request_limits.py): 20 visits, 30 + 10 codes."""
    visit = {"diagnoses": [{"system": "icd9cm", "code": "4019"}]}
    assert client.post(URL, json={"visits": [visit] * 21}, headers=clinician).status_code == 422
    assert client.post(URL, json={"visits": [visit] * 20}, headers=clinician).is_success
    full = {
        "diagnoses": [{"system": "icd9cm", "code": "4019"}] * 30,
        "procedures": [{"system": "icd9proc", "code": "3893"}] * 10,
    }
    assert client.post(URL, json={"visits": [full] * 20}, headers=clinician).is_success
    for field, entry in (
        ("diagnoses", full["diagnoses"][0]),
        ("procedures", full["procedures"][0]),
    ):
        over = {**full, field: [*full[field], entry]}
        assert client.post(URL, json={"visits": [over]}, headers=clinician).status_code == 422


def test_server_limits_from_settings(
    app: FastAPI, client: TestClient, clinician: dict[str, str], settings: Settings
) -> None:
    strict = settings.model_copy(update={"max_visits": 2, "max_codes_per_visit": 3})
    app.dependency_overrides[get_app_settings] = lambda: strict
    r = client.post(URL, json=patient(3), headers=clinician)
    assert r.status_code == 422 and "limits" in r.json()["detail"]
    assert client.post(URL, json=patient(2), headers=clinician).status_code == 200


class _PairModel:
    """Risk 0.9 for C07A+C09A, 0.2 for every other pair."""

    def predict(self, pairs: list[tuple[str, str]]) -> list[PairRisk | UnknownDrug]:
        return [
            PairRisk(a, b, 0.9 if {a, b} == {"C07A", "C09A"} else 0.2, (TypeScore("qt", 0.375),))
            for a, b in pairs
        ]


@pytest.fixture
def with_pair_model(registry: ModelRegistry, session: Session) -> None:
    table = tabulate(_PairModel(), MEDS)
    registry.install(
        LoadedModel("genn", 2, "e" * 64, registry.get("gamenet").manifest, None, table)
    )
    load_interactions(
        session=session,
        rows=[DdiRow("B01A", "N02B", ("bleeding",), "high", "test-kb")],
        source_version="1",
        replace=False,
    )


@pytest.mark.usefixtures("with_pair_model")
def test_ddi_block_lists_known_and_risky_pairs_and_counts_the_rest(
    client: TestClient, clinician: dict[str, str]
) -> None:
    body = {**patient(3), "threshold": 0.0}  # all 5 medications: 10 pairs
    data = client.post(URL, json=body, headers=clinician).json()
    assert len(data["medications"]) == len(MEDS)
    assert data["pair_model"] == {"name": "genn", "version": 2, "sha256": "e" * 64}
    ddi = data["ddi"]
    assert ddi["listed"] == "relevant" and ddi["risk_threshold"] == 0.5
    listed = {(p["atc3_a"], p["atc3_b"]): p for p in ddi["pairs"]}
    assert set(listed) == {("B01A", "N02B"), ("C07A", "C09A")}
    assert listed[("B01A", "N02B")]["status"] == "known_interaction"
    assert listed[("B01A", "N02B")]["predicted_risk"] == 0.2  # known: listed whatever its risk
    assert listed[("C07A", "C09A")]["status"] == "unknown_drug"  # to the knowledge base
    assert listed[("C07A", "C09A")]["top_types"] == [{"type": "qt", "probability": 0.375}]
    assert all("model" not in p for p in ddi["pairs"])  # the pair model is named once, on top
    assert (ddi["pair_count"], ddi["known_count"], ddi["omitted_count"]) == (10, 1, 8)
    assert ddi["ddi_rate"] == 0.1 and ddi["max_risk"] == 0.9
    assert ddi["prediction_note"] is None
    assert RecommendationPublic.model_validate(data).model_dump(mode="json") == data

    every = client.post(URL, params={"pairs": "all"}, json=body, headers=clinician).json()["ddi"]
    assert every["listed"] == "all" and len(every["pairs"]) == 10 and every["omitted_count"] == 0
    assert {k: every[k] for k in ("ddi_rate", "max_risk")} == {"ddi_rate": 0.1, "max_risk": 0.9}
    r = client.post(URL, params={"pairs": "some"}, json=body, headers=clinician)
    assert r.status_code == 422


@pytest.mark.usefixtures("with_pair_model")
def test_threshold_and_medication_cap_are_settings(
    app: FastAPI, client: TestClient, clinician: dict[str, str], settings: Settings
) -> None:
    strict = settings.model_copy(
        update={"ddi_risk_threshold": 0.1, "max_recommended_medications": 3}
    )
    app.dependency_overrides[get_app_settings] = lambda: strict
    body = {**patient(3), "threshold": 0.0, "top_k": 5}  # top_k cannot raise the cap
    data = client.post(URL, json=body, headers=clinician).json()
    assert len(data["medications"]) == 3
    ddi = data["ddi"]
    assert ddi["pair_count"] == 3 and len(ddi["pairs"]) == 3 and ddi["risk_threshold"] == 0.1


def test_the_openapi_example_is_a_valid_answer(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    [example] = schema["RecommendationPublic"]["examples"]
    # FastAPI drops nulls from the document's examples; the model fills them back in.
    answer = RecommendationPublic.model_validate(example)
    assert answer.model_dump(mode="json", exclude_none=True) == example
    assert set(example) == set(RecommendationPublic.model_fields)
    assert set(example["ddi"]) == set(DdiBlock.model_fields) - {"prediction_note"}


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


# Known pairs among the tiny model's medications: B01A is in three, N02B in two.
LIMIT_PAIRS = [("B01A", "N02B"), ("A02B", "B01A"), ("B01A", "C07A"), ("C09A", "N02B")]


def _known_rate(atc3s: list[str], known: set[tuple[str, str]]) -> float:
    pairs = [(a, b) for i, a in enumerate(sorted(atc3s)) for b in sorted(atc3s)[i + 1 :]]
    return sum(p in known for p in pairs) / len(pairs) if pairs else 0.0


@pytest.mark.parametrize("target", [0.0, 0.1, 0.2, 0.25, 0.4, 1.0])
def test_max_ddi_rate_returns_a_subset_at_or_below_the_target(
    client: TestClient, clinician: dict[str, str], session: Session, target: float
) -> None:
    rows = [DdiRow(a, b, ("t",), "high", "test-kb") for a, b in LIMIT_PAIRS]
    load_interactions(session=session, rows=rows, source_version="1", replace=False)
    body = {**patient(3), "threshold": 0.0}  # all 5 medications: 10 pairs, 4 known
    free = client.post(URL, json=body, headers=clinician).json()
    assert free["ddi_limit"] is None  # absent option: no limit, no block
    limited = client.post(URL, json={**body, "max_ddi_rate": target}, headers=clinician)
    assert limited.status_code == 200, limited.text
    data = limited.json()
    assert RecommendationPublic.model_validate(data).model_dump(mode="json") == data
    known = set(LIMIT_PAIRS)
    kept = [m["atc3"] for m in data["medications"]]
    everything = [m["atc3"] for m in free["medications"]]
    assert len(everything) == len(MEDS) and _known_rate(everything, known) == 0.4
    assert set(kept) <= set(everything) and kept == [m for m in everything if m in kept]
    assert data["medications"] == [m for m in free["medications"] if m["atc3"] in kept]
    assert _known_rate(kept, known) <= target
    limit = data["ddi_limit"]
    assert limit["max_ddi_rate"] == target and limit["rate_before"] == 0.4
    assert limit["rate_after"] == _known_rate(kept, known)
    assert data["ddi"]["ddi_rate"] == (limit["rate_after"] if len(kept) > 1 else None)
    dropped = [d["atc3"] for d in limit["dropped"]]
    assert sorted(dropped + kept) == sorted(everything)  # each drop is listed, once
    remaining = list(everything)
    for d in limit["dropped"]:  # why: in a known pair of the set, the least probable such
        assert d["rate_before"] == _known_rate(remaining, known) > target
        candidates = [m for m in remaining if any(m in p for p in known & _pairs(remaining))]
        probability = {m["atc3"]: m["probability"] for m in free["medications"]}
        assert d["probability"] == min(probability[m] for m in candidates)
        assert sorted(d["partners"]) == sorted(
            m for m in remaining if tuple(sorted((m, d["atc3"]))) in known
        )
        remaining.remove(d["atc3"])
        assert d["rate_after"] == _known_rate(remaining, known)
    if target >= 0.4:
        assert limit["dropped"] == [] and kept == everything


def _pairs(atc3s: list[str]) -> set[tuple[str, str]]:
    return {(a, b) for a in atc3s for b in atc3s if a < b}


def test_max_ddi_rate_out_of_range_is_a_422_naming_the_field(
    client: TestClient, clinician: dict[str, str]
) -> None:
    for bad in (-0.1, 1.5, "0.2", True):
        r = client.post(URL, json={**patient(3), "max_ddi_rate": bad}, headers=clinician)
        assert r.status_code == 422, bad
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["loc"] for e in r.json()["errors"]] == [["body", "max_ddi_rate"]]
    fhir = {"Accept": "application/fhir+json", **clinician}
    r = client.post(URL, json={**patient(3), "max_ddi_rate": 1.5}, headers=fhir)
    assert r.status_code == 422
    [issue] = r.json()["issue"]  # a FHIR caller's errors are an OperationOutcome
    assert issue["expression"] == ["max_ddi_rate"]
