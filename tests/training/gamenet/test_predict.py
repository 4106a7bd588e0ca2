from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.training.gamenet.conftest import make_dataset
from training.data.dataset import Dataset
from training.data.splits import SplitConfig
from training.gamenet.config import TrainConfig
from training.gamenet.data import prepare_data
from training.gamenet.predict import load_predictor
from training.gamenet.run import train
from training.gamenet.steps import evaluate, load_model


def test_the_predictor_scores_every_visit_as_the_trainer_evaluates(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    run = tmp_path / "run"
    train(data, run, TrainConfig(epochs=1, bootstrap_rounds=1, batch_size=8), show_progress=False)
    predictor = load_predictor(run)
    prepared = prepare_data(data, SplitConfig(method="literature"))
    assert tuple(predictor.med_vocab) == prepared.vocabs.med.tokens
    got = predictor.predict(prepared.split.test)
    model, _ = load_model(run / "best.ckpt")
    want = evaluate(model, prepared.test)
    assert [g.shape for g in got] == [
        (len(p.visits), len(predictor.med_vocab)) for p in prepared.split.test
    ]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-6)
    # a first visit is scored from its own codes alone: the same with or without later visits
    first = [p for p in Dataset(data).load() if len(p.visits) > 1][0]
    alone = type(first)(first.patient_id, first.visits[:1])
    np.testing.assert_allclose(
        predictor.predict([alone])[0][0], predictor.predict([first])[0][0], atol=1e-6
    )
