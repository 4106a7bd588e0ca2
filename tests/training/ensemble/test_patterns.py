from __future__ import annotations

import numpy as np
import pytest

from training.batching import EncodedPatient
from training.ensemble.patterns import (
    NUM_BUCKETS,
    bucket_index,
    bucket_names,
    code_median,
    visit_buckets,
)


def test_every_bucket_has_one_distinct_name() -> None:
    names = bucket_names()
    assert len(names) == NUM_BUCKETS == len(set(names))
    assert names[0] == "history 0, few codes"
    assert names[9] == "history 2+, many codes, past meds"


def test_bucket_index_by_hand() -> None:
    past = np.array([0, 0, 1, 1, 2, 5])
    codes = np.array([3, 9, 3, 9, 9, 3])
    meds = np.array([False, False, True, False, True, False])
    got = bucket_index(past, codes, meds, code_median=5.0)
    # h0 few, h0 many, h1 few + meds, h1 many no meds, h2+ many + meds, h2+ few no meds
    assert got.tolist() == [0, 1, 3, 4, 9, 6]
    assert [bucket_names()[b] for b in got[2:3]] == ["history 1, few codes, past meds"]


def test_a_visit_at_the_median_has_few_codes() -> None:
    assert bucket_index(np.array([0]), np.array([5]), np.array([False]), 5.0).tolist() == [0]


def test_visit_buckets_read_history_codes_and_past_meds() -> None:
    patient = EncodedPatient(
        diag=((1, 2), (1, 2, 3, 4), (5,)),
        proc=((1,), (2, 3), ()),
        meds=((), (4,), ()),
    )
    [buckets] = visit_buckets([patient], code_median=3.0)
    # visit 0: 3 codes (few); visit 1: 6 codes (many), no meds before it; visit 2: 1 code,
    # meds at visit 1
    assert buckets.tolist() == [0, 4, 7]


def test_code_median_over_training_visits() -> None:
    patients = [
        EncodedPatient(diag=((1,), (1, 2)), proc=((), (3,)), meds=((), ())),
        EncodedPatient(diag=((1, 2, 3, 4),), proc=((1,),), meds=((),)),
    ]
    assert code_median(patients) == 3.0  # visits of 1, 3 and 5 codes
    with pytest.raises(ValueError, match="no visits"):
        code_median([])
