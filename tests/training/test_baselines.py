from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.factories import make_visit, random_patients
from training import baselines
from training.baselines import (
    baseline_table,
    fit_logistic,
    frequency_baseline,
    logistic_baseline,
    med_targets,
    nearest_baseline,
    visit_features,
)
from training.data.records import Patient
from training.data.vocab import Vocabularies
from training.metrics import METRIC_KEYS, recommendation_metrics

MEDS = ("A01A", "B01A", "C07A", "N02B")


def _patient(pid: str, *visits: tuple[tuple[str, ...], tuple[str, ...]]) -> Patient:
    return Patient(
        pid,
        tuple(
            make_visit(f"{pid}-{i}", diagnoses=dx, procedures=("P1",), medications=meds)
            for i, (dx, meds) in enumerate(visits)
        ),
    )


TRAIN = [
    _patient("a", (("D1",), ("A01A", "B01A")), (("D2",), ("A01A", "C07A"))),
    _patient("b", (("D1",), ("A01A", "B01A")), (("D3",), ("A01A", "N02B"))),
]
VOCABS = Vocabularies.fit(TRAIN)


def test_med_targets_and_unknown_meds_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    patient = _patient("t", (("D1",), ("A01A", "Z99Z")), (("D1",), ("N02B",)))
    with caplog.at_level(logging.WARNING, logger="training.baselines"):
        (y,) = med_targets([patient], VOCABS.med)
    assert y.dtype == bool and y.shape == (2, 4)
    assert y.sum() == 2 and y[0, VOCABS.med.index("A01A")] and y[1, VOCABS.med.index("N02B")]
    assert "1 prescriptions" in caplog.text


def test_frequency_predicts_top_k_with_frequency_ranking() -> None:
    test = [_patient("t", (("D1",), ("A01A",)), (("D2",), ("B01A",)))]
    (scores,) = frequency_baseline(TRAIN, test, VOCABS, threshold=0.5)
    assert scores.shape == (2, 4)
    predicted = {VOCABS.med.tokens[i] for i in np.flatnonzero(scores[0] >= 0.5)}
    assert predicted == {"A01A", "B01A"}  # k = mean train set size = 2
    assert scores[0, VOCABS.med.index("A01A")] > scores[0, VOCABS.med.index("B01A")]
    assert scores[0, VOCABS.med.index("B01A")] > scores[0, VOCABS.med.index("C07A")]
    (k1,) = frequency_baseline(TRAIN, test, VOCABS, k=1, threshold=0.3)
    assert (k1[0] >= 0.3).sum() == 1


def test_nearest_repeats_previous_visit_and_falls_back_on_first() -> None:
    test = [_patient("t", (("D1",), ("C07A", "N02B")), (("D2",), ("B01A",)), (("D3",), ()))]
    (scores,) = nearest_baseline(TRAIN, test, VOCABS, threshold=0.5)
    (freq,) = frequency_baseline(TRAIN, test, VOCABS, threshold=0.5)
    np.testing.assert_array_equal(scores[0], freq[0])
    assert {VOCABS.med.tokens[i] for i in np.flatnonzero(scores[1])} == {"C07A", "N02B"}
    assert {VOCABS.med.tokens[i] for i in np.flatnonzero(scores[2])} == {"B01A"}
    assert set(np.unique(scores[1:])) <= {0.0, 1.0}


def test_visit_features_multi_hot_ignores_unknown_codes() -> None:
    test = [_patient("t", (("D1", "D9"), ("A01A",)))]
    x = visit_features(test, VOCABS).toarray()
    assert x.shape == (1, len(VOCABS.diag) + len(VOCABS.proc))
    assert x.sum() == 2  # D1 and P1; D9 is unknown


def test_logistic_regression_learns_a_code_to_med_rule() -> None:
    rng = np.random.default_rng(0)
    # D1 -> B01A, D2 -> C07A, A01A always (constant label, never fitted).
    train = [
        _patient(
            f"p{i}",
            (("D1",), ("A01A", "B01A")) if rng.random() < 0.5 else (("D2",), ("A01A", "C07A")),
        )
        for i in range(30)
    ]
    vocabs = Vocabularies.fit(train)
    test = [_patient("t", (("D1",), ("A01A", "B01A")), (("D2",), ("A01A", "C07A")))]
    (prob,) = logistic_baseline(train, test, vocabs, seed=0)
    assert prob.shape == (2, len(vocabs.med))
    b, c = vocabs.med.index("B01A"), vocabs.med.index("C07A")
    assert prob[0, b] > 0.5 > prob[0, c] and prob[1, c] > 0.5 > prob[1, b]
    assert prob[:, vocabs.med.index("A01A")].tolist() == [1.0, 1.0]
    (again,) = logistic_baseline(train, test, vocabs, seed=0)
    np.testing.assert_array_equal(prob, again)


def test_baseline_table_on_random_patients() -> None:
    patients = random_patients(30, seed=1)
    train, test = patients[:20], patients[20:]
    vocabs = Vocabularies.fit(train)
    ddi = np.zeros((len(vocabs.med),) * 2)
    table = baseline_table(train, test, vocabs, ddi, 0.5, seed=0)
    assert set(table) == {"frequency", "nearest", "logistic_regression"}
    for metrics in table.values():
        assert set(metrics) == set(METRIC_KEYS)
        assert 0.0 <= metrics["jaccard"]["mean"] <= 1.0
    y_true = med_targets(test, vocabs.med)
    y_prob = frequency_baseline(train, test, vocabs)
    assert recommendation_metrics(y_true, y_prob, threshold=0.5, ddi_adj=ddi)["avg_meds"] > 0


def test_the_same_logistic_fit_is_reused_and_equals_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(baselines, "_FITTED", OrderedDict())
    train = random_patients(40, seed=5)
    vocabs = Vocabularies.fit(train)
    first = fit_logistic(train, vocabs, seed=0)
    with monkeypatch.context() as m:  # nothing is fitted for the same data and options
        m.setattr(LogisticRegression, "fit", lambda *a, **k: pytest.fail("refitted"))
        assert fit_logistic(train, vocabs, seed=0) is first
    for other in (
        fit_logistic(train, vocabs, seed=1),
        fit_logistic(train, vocabs, seed=0, c=0.5),
        fit_logistic(train[:-1], vocabs, seed=0),
    ):
        assert other is not first
    assert len(baselines._FITTED) == baselines.LR_CACHE_SIZE  # the oldest were let go
    monkeypatch.setattr(baselines, "_FITTED", OrderedDict())
    refit = fit_logistic(train, vocabs, seed=0)
    x = visit_features(random_patients(6, seed=6), vocabs)
    assert refit is not first
    np.testing.assert_array_equal(refit.predict_proba(x), first.predict_proba(x))
