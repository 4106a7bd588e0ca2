"""A model can learn from the synthetic cohort: a ridge scorer beats "most frequent meds"."""

import numpy as np

from training.data.records import Patient
from training.data.splits import SplitConfig, split_patients
from training.data.synth import SynthConfig, generate_patients


def _jaccard(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean per-visit Jaccard of two boolean [V, M] matrices (empty ∪ counts as 0)."""
    inter = (pred & true).sum(1)
    union = (pred | true).sum(1)
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 0.0)))


def _matrices(patients: list[Patient], feats: dict, meds: dict) -> tuple[np.ndarray, np.ndarray]:
    visits = [v for p in patients for v in p.visits]
    x = np.zeros((len(visits), len(feats)), dtype=np.float64)
    y = np.zeros((len(visits), len(meds)), dtype=bool)
    for i, v in enumerate(visits):
        for c in (*v.diagnoses, *v.procedures):
            if c in feats:
                x[i, feats[c]] = 1.0
        for m in v.medications:
            if m in meds:
                y[i, meds[m]] = True
    return x, y


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    pred = np.zeros(scores.shape, dtype=bool)
    idx = np.argsort(-scores, axis=1)[:, :k]
    np.put_along_axis(pred, idx, True, axis=1)
    return pred


def test_learned_baseline_beats_most_frequent_meds() -> None:
    patients = list(generate_patients(SynthConfig(patients=800, seed=5)))
    split = split_patients(patients, SplitConfig(seed=0))
    train_visits = [v for p in split.train for v in p.visits]
    codes = sorted({c for v in train_visits for c in (*v.diagnoses, *v.procedures)})
    feats = {c: i for i, c in enumerate(codes)}
    meds = {m: i for i, m in enumerate(sorted({m for v in train_visits for m in v.medications}))}
    x_tr, y_tr = _matrices(split.train, feats, meds)
    x_te, y_te = _matrices(split.test, feats, meds)
    k = int(round(y_tr.sum(1).mean()))

    frequency = np.broadcast_to(y_tr.mean(0), y_te.shape)
    # Multi-output ridge regression on multi-hot dx + proc (closed form, one solve).
    x_tr1 = np.hstack([x_tr, np.ones((len(x_tr), 1))])
    x_te1 = np.hstack([x_te, np.ones((len(x_te), 1))])
    weights = np.linalg.solve(x_tr1.T @ x_tr1 + 20.0 * np.eye(x_tr1.shape[1]), x_tr1.T @ y_tr)

    jac_freq = _jaccard(_top_k(frequency, k), y_te)
    jac_learned = _jaccard(_top_k(x_te1 @ weights, k), y_te)
    assert jac_learned > jac_freq + 0.06, (jac_learned, jac_freq)
