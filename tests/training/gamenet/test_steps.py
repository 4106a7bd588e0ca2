from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tqdm import tqdm

from tests.training.gamenet.conftest import make_dataset, random_patients
from training.batching import encode_patients
from training.data.splits import SplitConfig
from training.data.vocab import Vocabularies
from training.gamenet.config import TrainConfig
from training.gamenet.data import prepare_data
from training.gamenet.run import build_model
from training.gamenet.steps import epoch_batches, train_one_epoch


def test_batched_batches_cover_every_patient_once() -> None:
    patients, _ = encode_patients(random_patients(37), Vocabularies.fit(random_patients(37)))
    batches = epoch_batches(patients, TrainConfig(batch_size=5), np.random.default_rng(1))
    assert sorted(id(p) for b in batches for p in b) == sorted(id(p) for p in patients)
    assert max(len(b) for b in batches) == 5


class _CountingAdam(torch.optim.Adam):
    steps = 0

    def step(self, closure=None):  # type: ignore[no-untyped-def, override]
        type(self).steps += 1
        return super().step(closure)


def _one_epoch(tmp_path: Path, **overrides: object) -> tuple[int, float]:

    prepared = prepare_data(make_dataset(tmp_path, n=30), SplitConfig(method="literature"))
    # threshold 0.01 predicts every med, so each visit has interacting pairs; target 0, T 0.1:
    # it draws the DDI loss with probability exp(-rate / 0.1), strictly between 0 and 1
    config = TrainConfig(batch_size=4, target_ddi=0.0, temperature=0.1, threshold=0.01, **overrides)  # type: ignore[arg-type]
    model = build_model(prepared, 0, config)
    optimizer = _CountingAdam(model.parameters(), lr=1e-3)
    _CountingAdam.steps = 0
    stats = train_one_epoch(
        model,
        optimizer,
        prepared.train,
        config=config,
        temperature=config.temperature,
        ddi_adj=torch.from_numpy(prepared.ddi_adj),
        rng=np.random.default_rng(0),
        generator=torch.Generator().manual_seed(0),
        bar=lambda batches: tqdm(batches, disable=True),
    )
    assert _CountingAdam.steps >= stats.steps
    return _CountingAdam.steps - stats.steps, stats.ddi_loss_share


def test_separate_ddi_loss_takes_its_own_adam_step(tmp_path: Path) -> None:
    extra, share = _one_epoch(tmp_path / "sep", ddi_loss="separate")
    assert 0 < share < 1 and extra > 0  # batches with both kinds of visit stepped twice
    extra, share = _one_epoch(tmp_path / "mixed", ddi_loss="mixed")
    assert share > 0 and extra == 0
    extra, share = _one_epoch(tmp_path / "off", ddi_loss="off")
    assert share == 0 and extra == 0
    with pytest.raises(ValueError, match="ddi_loss"):
        TrainConfig(ddi_loss="sometimes")  # type: ignore[arg-type]


def test_cosine_schedule_decays_from_lr_towards_zero() -> None:
    config = TrainConfig(epochs=4, lr=1e-2, lr_schedule="cosine")
    lrs = [config.epoch_lr(e) for e in range(1, 5)]
    assert lrs[0] == pytest.approx(1e-2) and lrs == sorted(lrs, reverse=True) and lrs[-1] > 0
    assert TrainConfig(lr=1e-2).epoch_lr(3) == 1e-2
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")  # type: ignore[arg-type]
