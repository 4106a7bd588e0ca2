from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from app.contract.visits import RawVisit
from app.inference.recommender import Recommender
from app.inference.registry import ModelRegistry
from tests.app.conftest import prepare
from tests.app.factories import MEDS, write_recommender_artifact

PAST = RawVisit([("icd9cm", "401.9")], [("icd9proc", "38.93")], ["C07AB02", "B01A"])
LAST = RawVisit([("icd9cm", "428.0"), ("icd9cm", "25000")], [("icd9proc", "9604")])


def _recommender(tmp_path: Path, **kwargs: object) -> Recommender:
    write_recommender_artifact(tmp_path / "a", **kwargs)  # type: ignore[arg-type]
    rec = prepare(ModelRegistry(), tmp_path / "a").recommender
    assert rec is not None
    return rec


def test_ranked_probabilities_above_threshold(tmp_path: Path) -> None:
    result = _recommender(tmp_path).recommend([PAST, LAST], threshold=0.0)
    probs = [m.probability for m in result.medications]
    assert sorted(probs, reverse=True) == probs
    assert {m.atc3 for m in result.medications} == set(MEDS)
    assert result.unknown_codes == []
    top = _recommender(tmp_path / "b").recommend([PAST, LAST], threshold=0.0, top_k=2)
    assert len(top.medications) == 2


def test_unknown_codes_are_listed_with_reasons(tmp_path: Path) -> None:
    visit = RawVisit([("icd9cm", "999.9"), ("icd10cm", "Z00"), ("icd9cm", "...")], [], ["A01A"])
    result = _recommender(tmp_path).recommend([visit, LAST])
    reasons = {(u.field, u.index): u.reason for u in result.unknown_codes}
    assert reasons == {
        ("diagnoses", 0): "not_in_model_vocabulary",
        ("diagnoses", 1): "not_in_model_vocabulary",
        ("diagnoses", 2): "malformed_code",
        ("medications", 0): "not_in_model_vocabulary",
    }
    assert result.unknown_codes[0].code == "9999"


def test_evidence_is_the_leave_one_out_probability_drop(tmp_path: Path) -> None:
    rec = _recommender(tmp_path)
    full = rec.recommend([PAST, LAST], threshold=0.0)
    for med in full.medications:
        m = MEDS.index(med.atc3)
        for ev in med.evidence:
            kept = [c for c in LAST.diagnoses if c[1].replace(".", "") != ev.code]
            procs = [c for c in LAST.procedures if c[1].replace(".", "") != ev.code]
            alone = rec._score(rec.encode([PAST, RawVisit(kept, procs)]), [None])[0, m]
            assert ev.contribution == pytest.approx(med.probability - alone, abs=1e-5)
            assert ev.contribution > 0


def test_chunked_occlusion_matches_one_batch(tmp_path: Path) -> None:
    rec = _recommender(tmp_path)
    one = rec._score(rec.encode([PAST, LAST]), [None, 0, 1, 2])
    rec.occlusion_budget = 1  # one copy per onnxruntime call
    chunked = rec._score(rec.encode([PAST, LAST]), [None, 0, 1, 2])
    np.testing.assert_allclose(one, chunked, rtol=1e-6)


def test_diag_only_model_is_fed_by_role(tmp_path: Path) -> None:
    result = _recommender(tmp_path, use_proc=False).recommend([PAST, LAST], threshold=0.0)
    assert len(result.medications) == len(MEDS)
    assert "does not use procedures" in " ".join(result.warnings)
    assert {u.reason for u in result.unknown_codes} == {"input_not_used_by_model"}


def test_last_visit_medications_are_ignored_with_a_warning(tmp_path: Path) -> None:
    rec = _recommender(tmp_path)
    with_meds = RawVisit(LAST.diagnoses, LAST.procedures, ["N02BE01"])
    a = rec.recommend([PAST, with_meds], threshold=0.0)
    b = rec.recommend([PAST, LAST], threshold=0.0)
    assert [m.probability for m in a.medications] == [m.probability for m in b.medications]
    assert any("last visit are ignored" in w for w in a.warnings)


def test_past_medications_are_fed_as_med_ids_and_med_mask_by_role(tmp_path: Path) -> None:
    from app.contract.manifest import recommender_specs

    manifest = write_recommender_artifact(tmp_path / "a")
    roles = ["diag_ids", "diag_mask", "med_ids", "med_mask", "visit_mask"]
    inputs, _ = recommender_specs(roles, len(MEDS))  # type: ignore[arg-type]
    rec = Recommender(manifest.model_copy(update={"inputs": inputs}), None)  # type: ignore[arg-type]
    past = RawVisit(PAST.diagnoses, [], [MEDS[2], MEDS[0], MEDS[2]])  # client order, a repeat
    feeds = rec._base_feeds(rec.encode([past, RawVisit(PAST.diagnoses), LAST]))
    assert sorted(feeds) == sorted(roles)
    np.testing.assert_array_equal(feeds["med_ids"], [[[0, 2], [0, 0], [0, 0]]])
    np.testing.assert_array_equal(feeds["med_mask"], [[[1, 1], [0, 0], [0, 0]]])
    assert feeds["med_ids"].dtype == np.int64 and feeds["med_mask"].dtype == np.float32


def test_a_remembered_spelling_encodes_as_the_first_time(tmp_path: Path) -> None:
    rec = _recommender(tmp_path)
    spelled = RawVisit([("icd9cm", " 428.0"), ("icd9cm", "250.00"), ("icd9cm", "x!")], [])
    first, again = rec.encode([spelled]), rec.encode([spelled])
    assert (first.diag, first.targets) == (again.diag, again.targets)
    assert first.targets == [
        ("diagnoses", 0, "icd9cm", "25000"),
        ("diagnoses", 1, "icd9cm", "4280"),
    ]
    assert [u.reason for u in again.unknown] == ["malformed_code"]  # never remembered
    other = RawVisit([], [("icd9cm", "428.0")])  # a diagnosis spelling is not a procedure's
    assert [u.reason for u in rec.encode([other]).unknown] == ["system_not_in_model_vocabulary"]


def test_evidence_serialises_from_its_instance_dict(tmp_path: Path) -> None:
    # orjson writes a plain dataclass from __dict__; a slotted Evidence took it 6x as long.
    result = _recommender(tmp_path).recommend([PAST, LAST], threshold=0.0)
    evidence = [e for m in result.medications for e in m.evidence]
    assert evidence
    assert all(vars(e) == {"field": e.field, "system": e.system, "code": e.code,
                           "contribution": e.contribution} for e in evidence)  # fmt: skip
    assert orjson.loads(orjson.dumps(evidence[0])) == vars(evidence[0])
