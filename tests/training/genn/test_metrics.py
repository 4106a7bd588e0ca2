import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from training.genn.metrics import bootstrap_type_metrics, precision_at_k, type_metrics


def test_hand_computed_case() -> None:
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    p = np.array([[0.9, 0.1, 0.2], [0.2, 0.8, 0.1], [0.3, 0.4, 0.9]])
    m = type_metrics(y, p)
    # type 0: positives {0.9, 0.3}, negative {0.2}: AUC 1, AP 1; type 1: pos {0.8,0.4} neg {0.1}
    # type 2 has no positive: skipped.
    assert m["roc_auc"] == pytest.approx(1.0)
    assert m["pr_auc"] == pytest.approx(1.0)
    assert m["p@1"] == pytest.approx(2 / 3)  # pair 3's top type (2) is false
    assert precision_at_k(y, p, 3) == pytest.approx((1 + 1 + 2) / 9)


def test_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((60, 7)) < 0.3).astype(np.float32)
    p = np.round(rng.random((60, 7)), 1)  # many ties
    m = type_metrics(y, p)
    usable = [t for t in range(7) if 0 < y[:, t].sum() < 60]
    assert m["roc_auc"] == pytest.approx(np.mean([roc_auc_score(y[:, t], p[:, t]) for t in usable]))
    assert m["pr_auc"] == pytest.approx(
        np.mean([average_precision_score(y[:, t], p[:, t]) for t in usable])
    )


def test_errors_and_bootstrap() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        type_metrics(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no type"):
        type_metrics(np.zeros((2, 2)), np.zeros((2, 2)))
    rng = np.random.default_rng(1)
    y = (rng.random((50, 4)) < 0.4).astype(np.float32)
    boot = bootstrap_type_metrics(y, rng.random((50, 4)), rounds=5)
    assert set(boot["roc_auc"]) == {"mean", "std"}
    assert 0 <= boot["pr_auc"]["mean"] <= 1
