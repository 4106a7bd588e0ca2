from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score, f1_score, jaccard_score

from training.metrics import (
    METRIC_KEYS,
    THRESHOLD_GRID,
    average_precision,
    bootstrap_metrics,
    ddi_rate,
    ddi_rate_per_visit,
    patient_stats,
    recommendation_metrics,
    tune_threshold,
    visit_jaccard,
)

NO_DDI = np.zeros((4, 4))


def _loop_reference(y_true, y_prob, threshold, ddi_adj):  # type: ignore[no-untyped-def]
    """A plain-loop restatement of the reference eval (per patient, then across patients)."""
    ja, pr, f1, all_cnt, dd_cnt, meds, visits = [], [], [], 0, 0, 0, 0
    for true, prob in zip(y_true, y_prob, strict=True):
        pj, pp, pf = [], [], []
        for t, s in zip(true, prob, strict=True):
            target = set(np.where(t)[0])
            out = sorted(np.where(s >= threshold)[0])
            inter, union = len(target & set(out)), len(target | set(out))
            pj.append(inter / union if union else 0.0)
            p = inter / len(out) if out else 0.0
            r = inter / len(target) if target else 0.0
            pf.append(2 * p * r / (p + r) if p + r else 0.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pp.append(average_precision_score(t, s))
            for i, a in enumerate(out):
                for b in out[i + 1 :]:
                    all_cnt += 1
                    dd_cnt += int(ddi_adj[a, b] == 1 or ddi_adj[b, a] == 1)
            meds += len(out)
            visits += 1
        ja.append(np.mean(pj))
        pr.append(np.mean(pp))
        f1.append(np.mean(pf))
    return {
        "jaccard": np.mean(ja),
        "prauc": np.mean(pr),
        "f1": np.mean(f1),
        "ddi_rate": dd_cnt / all_cnt if all_cnt else 0.0,
        "avg_meds": meds / visits,
    }


def test_hand_computed_two_patients() -> None:
    # Patient 1, visit 1: true {0,1}, predicted {0,2}: J = 1/3, P = R = 1/2, F1 = 1/2.
    #   scores ranked 0 (+), 2 (-), 1 (+), 3 (-): AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    # Patient 1, visit 2: true {3}, predicted {3}: J = F1 = AP = 1.
    # Patient 2, visit 1: true {1}, predicted {}: J = F1 = 0; 1 ranked second: AP = 1/2.
    y_true = [
        np.array([[1, 1, 0, 0], [0, 0, 0, 1]], dtype=bool),
        np.array([[0, 1, 0, 0]], dtype=bool),
    ]
    y_prob = [
        np.array([[0.9, 0.3, 0.8, 0.1], [0.1, 0.2, 0.3, 0.7]]),
        np.array([[0.4, 0.3, 0.1, 0.2]]),
    ]
    ddi = np.zeros((4, 4))
    ddi[2, 0] = 1  # one direction is enough
    m = recommendation_metrics(y_true, y_prob, threshold=0.5, ddi_adj=ddi)
    assert m["jaccard"] == pytest.approx(((1 / 3 + 1) / 2 + 0) / 2)
    assert m["f1"] == pytest.approx(((1 / 2 + 1) / 2 + 0) / 2)
    assert m["prauc"] == pytest.approx(((5 / 6 + 1) / 2 + 1 / 2) / 2)
    assert m["ddi_rate"] == pytest.approx(1.0)  # the only pair, {0, 2}, interacts
    assert m["avg_meds"] == pytest.approx(3 / 3)
    assert set(m) == set(METRIC_KEYS)


def test_matches_loop_reference_and_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    m = 12
    ddi = (rng.random((m, m)) < 0.2).astype(np.float32)
    y_true = [rng.random((int(rng.integers(1, 5)), m)) < 0.3 for _ in range(15)]
    for t in y_true:
        t[:, 0] = True  # every visit has a med, as in real data
    y_prob = [np.round(rng.random(t.shape), 1) for t in y_true]  # rounding makes ties
    ours = recommendation_metrics(y_true, y_prob, threshold=0.5, ddi_adj=ddi)
    ref = _loop_reference(y_true, y_prob, 0.5, ddi)
    for key in METRIC_KEYS:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key
    # For a single one-visit patient, the set metrics are sklearn's "samples" metrics.
    t, s = y_true[0][:1], y_prob[0][:1]
    one = recommendation_metrics([t], [s], threshold=0.5, ddi_adj=ddi)
    pred = s >= 0.5
    assert one["jaccard"] == pytest.approx(jaccard_score(t, pred, average="samples"))
    assert one["f1"] == pytest.approx(f1_score(t, pred, average="samples"))
    assert one["prauc"] == pytest.approx(average_precision_score(t[0], s[0]))


def test_average_precision_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.random((50, 9)) < 0.4
    y_true[:, 0] = True
    y_score = np.round(rng.random((50, 9)), 1)
    expected = [average_precision_score(t, s) for t, s in zip(y_true, y_score, strict=True)]
    np.testing.assert_allclose(average_precision(y_true, y_score), expected, atol=1e-12)


def test_edge_cases() -> None:
    # Nothing true, nothing predicted: jaccard 0 (reference would divide by zero), prauc 0.
    empty = recommendation_metrics(
        [np.zeros((1, 4), bool)], [np.zeros((1, 4))], threshold=0.5, ddi_adj=NO_DDI
    )
    assert empty == {"jaccard": 0.0, "prauc": 0.0, "f1": 0.0, "ddi_rate": 0.0, "avg_meds": 0.0}
    # A single correct med: perfect scores, no pair, DDI rate 0.
    t = np.array([[False, True, False, False]])
    single = recommendation_metrics([t], [t * 0.9], threshold=0.5, ddi_adj=np.ones((4, 4)))
    assert single == {"jaccard": 1.0, "prauc": 1.0, "f1": 1.0, "ddi_rate": 0.0, "avg_meds": 1.0}


def test_threshold_is_inclusive() -> None:
    t = np.array([[True, False]])
    m = recommendation_metrics(
        [t], [np.array([[0.5, 0.49]])], threshold=0.5, ddi_adj=NO_DDI[:2, :2]
    )
    assert m["jaccard"] == 1.0


def test_rejects_bad_input() -> None:
    ok = np.zeros((1, 4), bool)
    with pytest.raises(ValueError):
        recommendation_metrics([], [], threshold=0.5, ddi_adj=NO_DDI)
    with pytest.raises(ValueError):
        recommendation_metrics([ok], [np.zeros((1, 3))], threshold=0.5, ddi_adj=NO_DDI)
    with pytest.raises(ValueError):
        recommendation_metrics(
            [np.zeros((0, 4), bool)], [np.zeros((0, 4))], threshold=0.5, ddi_adj=NO_DDI
        )
    with pytest.raises(ValueError, match="NaN"):
        recommendation_metrics([ok], [np.full((1, 4), np.nan)], threshold=0.5, ddi_adj=NO_DDI)


def test_ddi_rate_counts_each_unordered_pair_once() -> None:
    adj = np.zeros((4, 4))
    adj[0, 1] = 1
    adj[2, 2] = 1  # self-loops never count
    # Visit 1: pairs {0,1} {0,2} {1,2} -> 1 interacting; visit 2: {2,3} -> 0; visit 3: no pair.
    rate = ddi_rate([np.array([0, 1, 2]), np.array([3, 2]), np.array([1])], adj)
    assert rate == pytest.approx(1 / 4)
    assert ddi_rate([np.array([0, 0, 1])], adj) == 1.0  # repeated ids count once
    assert ddi_rate([np.array([], dtype=np.int64)], adj) == 0.0


def test_bootstrap_is_seeded_and_summarises_every_metric() -> None:
    rng = np.random.default_rng(2)
    y_true = [rng.random((3, 6)) < 0.5 for _ in range(10)]
    y_prob = [rng.random((3, 6)) for _ in range(10)]
    ddi = np.ones((6, 6))
    kw = {"threshold": 0.5, "ddi_adj": ddi}
    a = bootstrap_metrics(y_true, y_prob, **kw, seed=7)
    assert a == bootstrap_metrics(y_true, y_prob, **kw, seed=7)
    assert a != bootstrap_metrics(y_true, y_prob, **kw, seed=8)
    assert set(a) == set(METRIC_KEYS) and all(set(v) == {"mean", "std"} for v in a.values())
    assert a["ddi_rate"] == {"mean": 1.0, "std": 0.0}
    full = recommendation_metrics(y_true, y_prob, **kw)
    whole = bootstrap_metrics(y_true, y_prob, **kw, fraction=1.0, rounds=3)
    assert whole["jaccard"]["mean"] == pytest.approx(full["jaccard"])
    assert whole["jaccard"]["std"] == pytest.approx(0.0, abs=1e-12)
    assert bootstrap_metrics(y_true, y_prob, **kw, replace=True)["jaccard"]["std"] > 0
    with pytest.raises(ValueError):
        bootstrap_metrics(y_true, y_prob, **kw, fraction=0.0)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    v, m = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    true = draw(arrays(bool, (v, m)))
    prob = draw(arrays(np.float64, (v, m), elements=st.floats(0, 1)))
    return true, prob


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_metrics_are_bounded(case: tuple[np.ndarray, np.ndarray]) -> None:
    true, prob = case
    m = recommendation_metrics([true], [prob], threshold=0.5, ddi_adj=np.ones((true.shape[1],) * 2))
    for key in ("jaccard", "prauc", "f1", "ddi_rate"):
        assert 0.0 <= m[key] <= 1.0 + 1e-12, key
    assert 0 <= m["avg_meds"] <= true.shape[1]


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_perfect_prediction_scores_one(case: tuple[np.ndarray, np.ndarray]) -> None:
    true, _ = case
    true[:, 0] = True
    m = recommendation_metrics(
        [true], [true.astype(float)], threshold=0.5, ddi_adj=np.zeros((true.shape[1],) * 2)
    )
    assert m["jaccard"] == m["f1"] == m["prauc"] == 1.0
    assert m["avg_meds"] == pytest.approx(true.sum() / len(true))


def test_ddi_rate_per_visit() -> None:
    adj = np.zeros((3, 3))
    adj[0, 1] = 1
    pred = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=bool)
    np.testing.assert_allclose(ddi_rate_per_visit(pred, adj), [1 / 3, 1.0, 0.0, 0.0])
    ids = [np.flatnonzero(row) for row in pred]
    assert [ddi_rate([i], adj) for i in ids] == ddi_rate_per_visit(pred, adj).tolist()


def test_tune_threshold_picks_the_grid_point_with_the_best_validation_jaccard() -> None:
    # true {0, 1}; scores 0.9, 0.35, 0.2, 0.6: 0.3 keeps {0, 1} (J 1), 0.5 {0, 3} (J 1/3),
    # 0.1 all four (J 1/2)
    true = np.array([[1, 1, 0, 0]], dtype=bool)
    prob = np.array([[0.9, 0.35, 0.2, 0.6]])
    assert tune_threshold([true], [prob], grid=(0.1, 0.3, 0.5)) == 0.3
    # the figure it maximises is recommendation_metrics' Jaccard
    grid = (0.1, 0.3, 0.5, 0.7)
    scores = [
        recommendation_metrics([true], [prob], threshold=t, ddi_adj=np.zeros((4, 4)))["jaccard"]
        for t in grid
    ]
    assert tune_threshold([true], [prob], grid=grid) == grid[int(np.argmax(scores))]


def test_tune_threshold_averages_patients_as_the_metrics_do() -> None:
    rng = np.random.default_rng(3)
    y_true = [rng.random((v, 6)) < 0.4 for v in (1, 3, 5)]
    y_prob = [np.clip(t * 0.5 + rng.random(t.shape) * 0.6, 0, 1) for t in y_true]
    adj = np.zeros((6, 6))
    scores = [
        recommendation_metrics(y_true, y_prob, threshold=t, ddi_adj=adj)["jaccard"]
        for t in THRESHOLD_GRID
    ]
    best = tune_threshold(y_true, y_prob)
    assert best in THRESHOLD_GRID
    assert scores[THRESHOLD_GRID.index(best)] == pytest.approx(max(scores))
    assert visit_jaccard(y_true[0], y_prob[0], best).shape == (1,)


def test_tune_threshold_ties_go_to_the_first_grid_point_and_bad_grids_are_refused() -> None:
    true = np.array([[1, 0]], dtype=bool)
    prob = np.array([[0.9, 0.1]])
    assert tune_threshold([true], [prob], grid=(0.5, 0.2, 0.8)) == 0.5
    with pytest.raises(ValueError, match="grid"):
        tune_threshold([true], [prob], grid=())
    with pytest.raises(ValueError, match="grid"):
        tune_threshold([true], [prob], grid=(0.0, 0.5))


def test_patient_stats_of_many_patients_are_each_patients_own_to_the_bit() -> None:
    rng = np.random.default_rng(4)
    m = 12
    upper = np.triu(rng.random((m, m)) < 0.3, 1)
    adj = (upper | upper.T).astype(np.float64)
    # up to 30 visits: numpy's mean sums 8 or more rows pairwise, not one after another
    y_prob = [rng.random((int(rng.integers(1, 30)), m)) for _ in range(40)]
    y_true = [rng.random(p.shape) < 0.3 for p in y_prob]
    stats = patient_stats(y_true, y_prob, threshold=0.4, ddi_adj=adj)
    for i, (true, prob) in enumerate(zip(y_true, y_prob, strict=True)):
        own = patient_stats([true], [prob], threshold=0.4, ddi_adj=adj)
        for field in own.__dataclass_fields__:
            assert getattr(stats, field)[i] == getattr(own, field)[0], field
        # a patient's mean is numpy's mean of its [V, 3] visit scores, as scored alone
        rows = np.stack([visit_jaccard(true, prob, 0.4), average_precision(true, prob)], axis=1)
        alone = np.concatenate([rows, np.zeros((len(rows), 1))], axis=1).mean(axis=0)
        assert (stats.jaccard[i], stats.prauc[i]) == (alone[0], alone[1])
    assert stats.visits.tolist() == [len(p) for p in y_prob]
