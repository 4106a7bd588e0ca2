from __future__ import annotations

import numpy as np

from tests.training.gamenet.conftest import random_patients
from training.batching import encode_patients
from training.data.vocab import Vocabularies
from training.gamenet.config import TrainConfig
from training.gamenet.steps import epoch_batches


def test_batched_batches_cover_every_patient_once() -> None:
    patients, _ = encode_patients(random_patients(37), Vocabularies.fit(random_patients(37)))
    batches = epoch_batches(patients, TrainConfig(batch_size=5), np.random.default_rng(1))
    assert sorted(id(p) for b in batches for p in b) == sorted(id(p) for p in patients)
    assert max(len(b) for b in batches) == 5
