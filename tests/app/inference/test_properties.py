"""Properties of the recommender and the pair-risk model, through onnxruntime (hypothesis).

The artifacts are the tiny ONNX models of ``tests/app/factories.py``; visits mix codes of the
model's vocabulary (written with and without dots, in any case) with unknown and malformed ones.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.contract.codes import normalize_code
from app.contract.visits import RawVisit
from app.inference.onnx import OrtOptions, open_session
from app.inference.pair_risk import GennPairRisk, PairRisk, PairRiskPredictor
from app.inference.recommender import Recommendation, Recommender
from app.inference.registry import ModelRegistry
from tests.app.conftest import prepare
from tests.app.factories import (
    DIAG,
    MEDS,
    PROC,
    write_pair_risk_artifact,
    write_recommender_artifact,
)

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def _spelled(pair: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    """A vocabulary code as a client may write it: a dot after 3 characters, any case."""
    system, code = pair
    dotted = f"{code[:3]}.{code[3:]}" if len(code) > 3 else code
    return st.sampled_from([code, dotted, dotted.lower(), f" {code} "]).map(lambda c: (system, c))


def _codes(vocab: list[list[str]], systems: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    unknown = st.tuples(st.sampled_from(systems), st.from_regex(r"\A[A-Z0-9]{3,7}\Z"))
    malformed = st.tuples(st.sampled_from(systems), st.sampled_from(["...", " . ", "-"]))
    return st.one_of(*(_spelled(v) for v in vocab), unknown, malformed)


visits = st.lists(
    st.builds(
        RawVisit,
        diagnoses=st.lists(_codes(DIAG, ["icd9cm", "icd10cm"]), max_size=8),
        procedures=st.lists(_codes(PROC, ["icd9proc", "icd10pcs"]), max_size=4),
        medications=st.lists(st.sampled_from([*MEDS, "N02BE01", "A01A", "Q9"]), max_size=4),
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def recommender(tmp_path_factory: pytest.TempPathFactory) -> Recommender:
    """The tiny GAMENet-shaped artifact, verified and warmed up by the registry."""
    path = tmp_path_factory.mktemp("properties") / "gamenet-v1"
    write_recommender_artifact(path)
    rec = prepare(ModelRegistry(), path).recommender
    assert rec is not None
    return rec


@pytest.fixture(scope="module", params=["model", "table"])
def pair_risk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> PairRiskPredictor:
    """The tiny GENN-shaped artifact: its onnxruntime scorer, and the table the registry serves."""
    path = tmp_path_factory.mktemp("properties") / "genn-v1"
    manifest = write_pair_risk_artifact(path)
    if request.param == "table":
        table = prepare(ModelRegistry(), path).pair_risk
        assert table is not None
        return table
    session = open_session(path, manifest, manifest.onnx_sha256, OrtOptions())
    return GennPairRisk(manifest, session)


@PROPERTY
@given(patient=visits)
def test_evidence_codes_are_codes_of_the_last_visit(
    recommender: Recommender, patient: list[RawVisit]
) -> None:
    result = recommender.recommend(patient, threshold=0.0)
    last = patient[-1]
    sent = {
        "diagnoses": {(s, _normalized(c)) for s, c in last.diagnoses},
        "procedures": {(s, _normalized(c)) for s, c in last.procedures},
    }
    for medication in result.medications:
        for evidence in medication.evidence:
            assert (evidence.system, evidence.code) in sent[evidence.field]
            assert evidence.contribution > 0


@PROPERTY
@given(patient=visits, seed=st.integers(0, 2**32 - 1))
def test_the_order_of_codes_within_a_visit_does_not_matter(
    recommender: Recommender, patient: list[RawVisit], seed: int
) -> None:
    shuffle = random.Random(seed).sample
    shuffled = [
        RawVisit(
            shuffle(list(v.diagnoses), len(v.diagnoses)),
            shuffle(list(v.procedures), len(v.procedures)),
            shuffle(list(v.medications), len(v.medications)),
        )
        for v in patient
    ]
    for top_k in (None, 2):
        a = recommender.recommend(patient, threshold=0.0, top_k=top_k)
        b = recommender.recommend(shuffled, threshold=0.0, top_k=top_k)
        assert a.medications == b.medications
        assert _unknown(a) == _unknown(b) and a.warnings == b.warnings


@PROPERTY
@given(pairs=st.lists(st.tuples(st.sampled_from([*MEDS, "Z99Z"]), st.sampled_from(MEDS))))
def test_pair_risk_is_symmetric(pair_risk: PairRiskPredictor, pairs: list[tuple[str, str]]) -> None:
    forward = pair_risk.predict(pairs)
    backward = pair_risk.predict([(b, a) for a, b in pairs])
    assert len(forward) == len(backward) == len(pairs)
    for f, b in zip(forward, backward, strict=True):
        assert type(f) is type(b)
        if isinstance(f, PairRisk) and isinstance(b, PairRisk):
            assert (f.risk, f.top_types) == (b.risk, b.top_types)
            assert (f.atc3_a, f.atc3_b) == (b.atc3_b, b.atc3_a)  # named in request order


def _normalized(code: str) -> str | None:
    try:
        return normalize_code(code)
    except ValueError:
        return None


def _unknown(result: Recommendation) -> list[tuple[object, ...]]:
    """The unknown codes without their index (a position in the visit, which a shuffle moves)."""
    return sorted((u.visit, u.field, u.code, str(u.system), u.reason) for u in result.unknown_codes)
