from __future__ import annotations

import numpy as np
import pytest

from tests.factories import random_patients
from training.baselines import frequency_baseline, logistic_baseline, nearest_baseline
from training.data.vocab import Vocabularies
from training.evaluate.baselines import BASELINES, fit_baseline

TRAIN = random_patients(60, seed=1)
TEST = random_patients(8, seed=2)
VOCABS = Vocabularies.fit(TRAIN)


@pytest.mark.parametrize("name", BASELINES)
def test_a_fitted_baseline_scores_every_visit_over_the_training_vocabulary(name: str) -> None:
    predictor = fit_baseline(name, TRAIN)
    assert predictor.name == name
    assert tuple(predictor.med_vocab) == VOCABS.med.tokens
    scores = predictor.predict(TEST)
    assert [s.shape for s in scores] == [(len(p.visits), len(VOCABS.med)) for p in TEST]
    assert all(np.all((s >= 0) & (s <= 1)) for s in scores)


def test_the_predictors_score_as_the_training_reports_baselines() -> None:
    expected = {
        "lr": logistic_baseline(TRAIN, TEST, VOCABS, seed=0),
        "frequency": frequency_baseline(TRAIN, TEST, VOCABS),
        "nearest": nearest_baseline(TRAIN, TEST, VOCABS),
    }
    for name, want in expected.items():
        got = fit_baseline(name, TRAIN).predict(TEST)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w)


def test_unknown_baseline_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown baseline 'svm'"):
        fit_baseline("svm", TRAIN)
