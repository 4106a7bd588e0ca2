import pytest

from training.data.records import Patient, Visit
from training.data.splits import SplitConfig, split_patients


def _patients(n: int) -> list[Patient]:
    visit = Visit("v", None, (), (), ())
    return [Patient(f"p{i}", (visit,) * (1 + i % 3)) for i in range(n)]


def test_literature_split_matches_gamenet_arithmetic() -> None:
    patients = _patients(100)
    split = split_patients(patients, SplitConfig(method="literature"))
    # split_point = int(100*2/3) = 66; rest 34; eval_len = 17 -> test = rest[:17], val = rest[17:]
    assert [p.patient_id for p in split.train] == [f"p{i}" for i in range(66)]
    assert [p.patient_id for p in split.test] == [f"p{i}" for i in range(66, 83)]
    assert [p.patient_id for p in split.val] == [f"p{i}" for i in range(83, 100)]


def test_literature_split_odd_sizes() -> None:
    split = split_patients(_patients(7), SplitConfig(method="literature"))
    assert (len(split.train), len(split.test), len(split.val)) == (4, 1, 2)


def test_random_split_is_seeded_disjoint_and_complete() -> None:
    patients = _patients(50)
    a = split_patients(patients, SplitConfig(seed=3, ratios=(0.7, 0.2, 0.1)))
    b = split_patients(patients, SplitConfig(seed=3, ratios=(0.7, 0.2, 0.1)))
    c = split_patients(patients, SplitConfig(seed=4, ratios=(0.7, 0.2, 0.1)))
    ids = [p.patient_id for part in (a.train, a.val, a.test) for p in part]
    assert sorted(ids) == sorted(p.patient_id for p in patients)
    assert (len(a.train), len(a.val), len(a.test)) == (35, 10, 5)
    assert a.train == b.train
    assert a.train != c.train


def test_ratios_use_isclose_and_reject_bad_sums() -> None:
    SplitConfig(ratios=(0.7, 0.2, 0.1))  # sums to 0.9999999999999999
    with pytest.raises(ValueError, match="sum to 1"):
        SplitConfig(ratios=(0.5, 0.2, 0.1))
    with pytest.raises(ValueError, match="non-negative"):
        SplitConfig(ratios=(1.2, -0.1, -0.1))


def test_describe_records_method_counts_and_digest() -> None:
    split = split_patients(_patients(10), SplitConfig(method="random", seed=1))
    info = split.describe()
    assert info["method"] == "random"
    assert info["seed"] == 1
    assert info["counts"] == {"train": 8, "val": 1, "test": 1}
    assert sum(info["visits"].values()) == sum(1 + i % 3 for i in range(10))
    assert len(info["patient_ids_sha256"]["train"]) == 64
    lit = split_patients(_patients(10), SplitConfig(method="literature")).describe()
    assert lit["seed"] is None and lit["ratios"][0] == pytest.approx(2 / 3, abs=1e-6)
