from __future__ import annotations

import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.api.deps import get_registry
from app.crud.ddi import DdiRow, load_interactions
from app.crud.vocab import VocabRow, load_vocab
from app.inference.pair_risk import PairRisk, PairRiskPredictor, TypeScore, UnknownDrug
from app.inference.pair_table import tabulate
from app.inference.registry import LoadedModel, ModelRegistry
from app.schemas.interactions import InteractionsPublic
from tests.app.conftest import prepare
from tests.app.factories import MEDS, write_pair_risk_artifact

URL = "/v1/interactions"


@pytest.fixture
def kb(session: Session) -> None:
    rows = [
        DdiRow("B01A", "N02B", ("bleeding",), "high", "kb1"),
        DdiRow("B01A", "N02B", (), "moderate", "kb2"),
        DdiRow("C07A", "C09A", (), "unknown", "kb1"),
    ]
    load_interactions(session=session, rows=rows, source_version="v1", replace=False)


@pytest.mark.usefixtures("kb")
def test_get_and_post_agree_and_are_symmetric(
    client: TestClient, clinician: dict[str, str]
) -> None:
    a = client.get(URL, params={"drugs": "N02BE01,B01AC06,C07A"}, headers=clinician)
    b = client.post(URL, json={"drugs": ["C07AB02", "B01A", "N02B"]}, headers=clinician)
    assert a.status_code == b.status_code == 200, a.text
    assert a.json() == b.json()
    data = a.json()
    assert data["drugs"] == ["B01A", "C07A", "N02B"] and data["count"] == 3
    pairs = {(p["atc3_a"], p["atc3_b"]): p for p in data["pairs"]}
    hit = pairs[("B01A", "N02B")]
    assert hit["status"] == "known_interaction" and hit["severity"] == "high"
    assert [i["source"] for i in hit["interactions"]] == ["kb1", "kb2"]
    assert pairs[("B01A", "C07A")]["status"] == "no_known_interaction"
    assert data["ddi_rate"] == pytest.approx(1 / 3)
    assert data["max_risk"] is None and data["pair_model"] is None
    assert data["prediction_note"] == "no pair-risk model is active"


@pytest.mark.usefixtures("kb")
def test_unknown_drug_is_a_pair_status(client: TestClient, clinician: dict[str, str]) -> None:
    r = client.get(URL, params={"drugs": "B01A,Z99Z"}, headers=clinician)
    assert r.status_code == 200
    [pair] = r.json()["pairs"]
    assert pair["status"] == "unknown_drug" and pair["unknown_drugs"] == ["Z99Z"]


def test_bad_drug_lists(client: TestClient, clinician: dict[str, str]) -> None:
    r = client.get(URL, params={"drugs": "B01A,not-a-drug"}, headers=clinician)
    assert r.status_code == 422 and "not-a-drug" not in r.text
    assert r.json()["errors"][0]["loc"][:2] == ["query", "drugs"]
    assert client.post(URL, json={"drugs": ["B01A"]}, headers=clinician).status_code == 422


class _FakeGenn:
    def predict(self, pairs: list[tuple[str, str]]) -> list[PairRisk | UnknownDrug]:
        return [
            UnknownDrug(a, b, ("Z99Z",))
            if "Z99Z" in (a, b)
            else PairRisk(a, b, 0.8, (TypeScore("bleeding", 0.75),))
            for a, b in pairs
        ]


def test_predicted_risk_from_a_pair_risk_model(
    client: TestClient, clinician: dict[str, str], registry: ModelRegistry
) -> None:
    gamenet = registry.get("gamenet")
    table = tabulate(_FakeGenn(), ["B01A", "N02B", "C07A"])
    fake = LoadedModel("genn", 3, "f" * 64, gamenet.manifest, pair_risk=table)
    registry.install(fake)
    client.app.dependency_overrides[get_registry] = lambda: registry  # type: ignore[attr-defined]
    r = client.post(URL, json={"drugs": ["B01A", "N02B", "Z99Z"]}, headers=clinician)
    data = r.json()
    pairs = {(p["atc3_a"], p["atc3_b"]): p for p in data["pairs"]}
    assert pairs[("B01A", "N02B")]["predicted_risk"] == 0.8
    assert data["pair_model"] == {"name": "genn", "version": 3, "sha256": "f" * 64}
    assert data["prediction_note"] is None and "model" not in pairs[("B01A", "N02B")]
    assert pairs[("B01A", "N02B")]["top_types"] == [{"type": "bleeding", "probability": 0.75}]
    assert pairs[("B01A", "Z99Z")]["predicted_risk"] is None
    assert "Z99Z" in pairs[("B01A", "Z99Z")]["prediction_note"]
    assert data["max_risk"] == 0.8
    assert InteractionsPublic.model_validate(data).model_dump(mode="json") == data


def test_admin_loads_a_table(
    client: TestClient, admin: dict[str, str], clinician: dict[str, str]
) -> None:
    csv = "atc3_a,atc3_b,types,severity\nn02b,b01a,bleeding;gi,high\nB01A,N02B,x,low\n"
    body = {"csv": csv, "source": "upload", "source_version": "2024"}
    assert client.post(f"{URL}/known", json=body, headers=clinician).status_code == 403
    r = client.post(f"{URL}/known", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["loaded"] == 1
    bad = {**body, "csv": "atc3_a,atc3_b\nB01A,SECRET\n"}
    r = client.post(f"{URL}/known", json=bad, headers=admin)
    assert r.status_code == 422
    assert "row 1" in r.json()["detail"] and "SECRET" not in r.text


@pytest.mark.usefixtures("kb")
def test_rxnorm_and_ndc_drugs_map_through_the_loaded_vocabulary(
    client: TestClient, clinician: dict[str, str], session: Session
) -> None:
    rows = [VocabRow("rxnorm", "243670", "B01A"), VocabRow("ndc", "00002322730", "N02B"),
            VocabRow("atc", "N02B", "N02B", "Other analgesics and antipyretics")]  # fmt: skip
    load_vocab(session=session, rows=rows, source_version="t", replace=False)
    drugs = [
        {"system": "rxnorm", "code": "243670"},
        {"system": "ndc", "code": "0002-3227-30"},
        {"system": "rxnorm", "code": "999"},
    ]
    data = client.post(URL, json={"drugs": drugs}, headers=clinician).json()
    assert data["drugs"] == ["B01A", "N02B"] and data["pairs"][0]["severity"] == "high"
    assert data["unmapped"] == [
        {"index": 2, "system": "rxnorm", "code": "999", "reason": "no_atc_mapping"}
    ]
    assert data["displays"] == {"N02B": "Other analgesics and antipyretics"}


@pytest.fixture
def genn(registry: ModelRegistry, tmp_path: Path) -> PairRiskPredictor:
    """The tiny pair-risk artifact, served by the test registry; its scorer."""
    write_pair_risk_artifact(tmp_path / "genn-v1")
    loaded = prepare(registry, tmp_path / "genn-v1")
    registry.install(loaded)
    assert loaded.pair_risk is not None
    return loaded.pair_risk


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    drugs=st.lists(st.sampled_from([*MEDS, "N02BE01", "B01AC06", "Z99Z"]), min_size=2, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
@pytest.mark.usefixtures("kb")
def test_the_answer_does_not_depend_on_the_order_of_the_drugs(
    client: TestClient,
    clinician: dict[str, str],
    genn: PairRiskPredictor,
    drugs: list[str],
    seed: int,
) -> None:
    """A property (hypothesis): any order, GET or POST, one answer; each pair's risk symmetric."""
    shuffled = random.Random(seed).sample(drugs, len(drugs))
    answer = client.post(URL, json={"drugs": drugs}, headers=clinician)
    if len({d[:4] for d in drugs}) < 2:
        assert answer.status_code == 200 and answer.json()["count"] == 0
        return
    assert answer.status_code == 200, answer.text
    assert client.post(URL, json={"drugs": shuffled}, headers=clinician).json() == answer.json()
    query = {"drugs": ",".join(reversed(drugs))}
    assert client.get(URL, params=query, headers=clinician).json() == answer.json()
    for pair in answer.json()["pairs"]:
        a, b = pair["atc3_a"], pair["atc3_b"]
        assert a < b
        (reverse,) = genn.predict([(b, a)])
        risk = reverse.risk if isinstance(reverse, PairRisk) else None
        assert pair["predicted_risk"] == risk
