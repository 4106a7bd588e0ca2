import itertools
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from app.contract.codes import atc3, normalize_code
from training.data.records import Patient
from training.data.synth import SynthConfig, generate_patients
from training.data.synth.catalog import ATC3_CLASSES


@pytest.fixture(scope="module")
def cohort() -> list[Patient]:
    return list(generate_patients(SynthConfig(patients=1000, seed=11)))


def test_set_sizes_are_realistic(cohort: list[Patient]) -> None:
    visits = [v for p in cohort for v in p.visits]
    n_visits = [len(p.visits) for p in cohort]
    assert min(n_visits) == 1 and max(n_visits) <= 10
    assert 1.6 < np.mean(n_visits) < 3.0
    assert 10 <= np.mean([len(v.diagnoses) for v in visits]) <= 15
    assert 10 <= np.mean([len(v.medications) for v in visits]) <= 20
    assert 2 <= np.mean([len(v.procedures) for v in visits]) <= 6
    assert len({m for v in visits for m in v.medications}) >= 140


def test_codes_are_valid_and_normalised(cohort: list[Patient]) -> None:
    visits = [v for p in cohort for v in p.visits]
    for v in visits[:300]:
        assert all(normalize_code(c.code) == c.code and c.system == "icd9cm" for c in v.diagnoses)
        assert all(c.system == "icd9proc" and c.code.isdigit() for c in v.procedures)
        assert all(atc3(m) == m for m in v.medications)
        assert list(v.medications) == sorted(set(v.medications))
    assert len(ATC3_CLASSES) == len(set(ATC3_CLASSES)) == 150
    chapters = {c.code[0] for v in visits for c in v.diagnoses}
    assert {"V", "E", "4", "2"} <= chapters


def test_comorbidity_links_conditions(cohort: list[Patient]) -> None:
    def has(p: Patient, code: str) -> bool:
        return any(c.code == code for v in p.visits for c in v.diagnoses)

    htn = [p for p in cohort if has(p, "4019")]
    hyperlipid_given_htn = np.mean([has(p, "2724") for p in htn])
    hyperlipid_without = np.mean([has(p, "2724") for p in cohort if not has(p, "4019")])
    assert hyperlipid_given_htn > 1.3 * hyperlipid_without


def test_meds_depend_on_history(cohort: list[Patient]) -> None:
    def jac(a: tuple[str, ...], b: tuple[str, ...]) -> float:
        return len(set(a) & set(b)) / len(set(a) | set(b))

    consecutive = [
        jac(v.medications, w.medications) for p in cohort for v, w in itertools.pairwise(p.visits)
    ]
    rng = np.random.default_rng(0)
    visits = [v for p in cohort for v in p.visits]
    pairs = rng.integers(len(visits), size=(len(consecutive), 2))
    strangers = [jac(visits[i].medications, visits[j].medications) for i, j in pairs]
    assert np.mean(consecutive) > np.mean(strangers) + 0.1


def test_streams_and_is_seeded() -> None:
    stream = generate_patients(SynthConfig(patients=10**9, seed=1))
    assert isinstance(stream, Iterator)
    first = list(itertools.islice(stream, 5))
    again = list(itertools.islice(generate_patients(SynthConfig(patients=5, seed=1)), 5))
    other = list(generate_patients(SynthConfig(patients=5, seed=2)))
    assert first == again
    assert first != other
    assert [p.patient_id for p in first] == ["10000", "10001", "10002", "10003", "10004"]


def test_same_cohort_whatever_the_hash_seed() -> None:
    code = (
        "import hashlib, json; from training.data.synth import SynthConfig, generate_patients;"
        "print(hashlib.sha256(json.dumps([p.to_json() for p in generate_patients("
        "SynthConfig(patients=60, seed=3))]).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": "."},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="patients"):
        SynthConfig(patients=-1)
    with pytest.raises(ValueError, match="target_ddi_rate"):
        SynthConfig(target_ddi_rate=0.9)
