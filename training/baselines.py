"""Non-neural baselines reported beside every model, on the same split and the same metrics.

Each baseline fits on the training patients and returns, for each test patient, a float
``[V_p, M]`` score matrix over the medication vocabulary: the ``y_prob`` that
:func:`training.metrics.recommendation_metrics` takes, one row per visit (every visit is predicted,
as for GAMENet). :func:`med_targets` builds the matching ``y_true``.

- **frequency**: the ``k`` meds prescribed in most training visits, for every visit;
- **nearest**: the meds of the patient's previous visit (GAMENet's "Nearest" row);
- **logistic_regression**: one-vs-rest logistic regression on the multi-hot diagnoses and
  procedures of the current visit (GAMENet's "LR" row).

How they differ from the GAMENet reference scripts (``code/baseline/baseline_near.py``,
``train_LR.py``): those score all visits of the test split in one ``multi_label_metric`` call, so
their averages are over visits, not patients, and ``baseline_near.py`` skips every first visit (it
has no previous one). We score every visit with the per-patient averaging used for the models, and
give a first visit the frequency prediction, so all rows of one table cover the same visits.
Published baseline figures are therefore comparable only roughly with ours.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from training.data.records import Patient, Visit
from training.data.vocab import Vocabularies, Vocabulary
from training.metrics import bootstrap_metrics

logger = logging.getLogger(__name__)

LR_C = 0.90909  # the reference's grid-searched inverse regularisation (train_LR.py)
LR_CACHE_SIZE = 2  # fitted models kept per process (see fit_logistic)


def _med_row(visit: Visit, med_vocab: Vocabulary[str]) -> np.ndarray:
    row = np.zeros(len(med_vocab), dtype=bool)
    row[[i for i in map(med_vocab.get, visit.medications) if i is not None]] = True
    return row


def _targets(patient: Patient, med_vocab: Vocabulary[str]) -> np.ndarray:
    rows = [_med_row(v, med_vocab) for v in patient.visits]
    return np.stack(rows) if rows else np.zeros((0, len(med_vocab)), dtype=bool)


def med_targets(patients: Sequence[Patient], med_vocab: Vocabulary[str]) -> list[np.ndarray]:
    """Return ``y_true``: per patient, a bool ``[V_p, M]`` multi-hot of each visit's meds.

    A med outside ``med_vocab`` (never seen in training) cannot be predicted and has no column;
    how many such prescriptions were left out is logged as a warning.
    """
    unknown = sum(m not in med_vocab for p in patients for v in p.visits for m in v.medications)
    if unknown:
        logger.warning("%d prescriptions of meds outside the vocabulary are not scored", unknown)
    return [_targets(p, med_vocab) for p in patients]


def _top_k_scores(
    train: Sequence[Patient], med_vocab: Vocabulary[str], k: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the share of training visits with each med, and the bool mask of the top ``k``."""
    rows = [_med_row(v, med_vocab) for p in train for v in p.visits]
    if not rows:
        raise ValueError("baselines: the training split has no visits")
    counts = np.stack(rows)
    share = counts.mean(axis=0)
    if k is None:
        k = max(1, round(float(counts.sum(axis=1).mean())))
    top = np.zeros(len(med_vocab), dtype=bool)
    top[np.argsort(-share, kind="stable")[:k]] = True
    return share, top


def _frequency_row(share: np.ndarray, top: np.ndarray, threshold: float) -> np.ndarray:
    """Scores ranked by training frequency, ``>= threshold`` exactly on the top-k meds."""
    peak = share.max() if share.max() > 0 else 1.0
    floor = share[top].min() if share[top].min() > 0 else 1.0
    inside = threshold + (1 - threshold) * share / peak
    outside = 0.99 * threshold * np.minimum(share / floor, 1.0)
    return np.where(top, inside, outside)


def frequency_baseline(
    train: Sequence[Patient],
    test: Sequence[Patient],
    vocabs: Vocabularies,
    *,
    k: int | None = None,
    threshold: float = 0.5,
) -> list[np.ndarray]:
    """Recommend the ``k`` meds prescribed in most training visits, for every test visit.

    Args:
        train: training patients.
        test: patients to score.
        vocabs: the vocabularies (only ``med`` is used).
        k: how many meds; default the mean number of meds per training visit, rounded.
        threshold: the threshold the metrics will apply; the top ``k`` score ``>= threshold`` and
            the rest below it, all ranked by training frequency (so PR-AUC is meaningful).

    Returns:
        per test patient, float ``[V_p, M]`` scores.
    """
    share, top = _top_k_scores(train, vocabs.med, k)
    row = _frequency_row(share, top, threshold)
    return [np.tile(row, (len(p.visits), 1)) for p in test]


def nearest_baseline(
    train: Sequence[Patient],
    test: Sequence[Patient],
    vocabs: Vocabularies,
    *,
    k: int | None = None,
    threshold: float = 0.5,
) -> list[np.ndarray]:
    """Recommend the meds of the patient's previous visit (score 1, others 0).

    A first visit has no previous one: it gets :func:`frequency_baseline`'s scores (with ``k``
    and ``threshold``), since the reference's choice, skipping it, would change the visit set.

    Returns:
        per test patient, float ``[V_p, M]`` scores.
    """
    share, top = _top_k_scores(train, vocabs.med, k)
    first = _frequency_row(share, top, threshold)
    out = []
    for patient in test:
        meds = _targets(patient, vocabs.med).astype(np.float64)
        out.append(np.vstack([first[None, :], meds[:-1]])[: len(meds)])
    return out


def visit_features(patients: Sequence[Patient], vocabs: Vocabularies) -> sparse.csr_matrix:
    """Return the ``[visits, D + P]`` multi-hot of each visit's diagnoses, then procedures.

    Codes outside the vocabularies have no column and are ignored.
    """
    n_diag = len(vocabs.diag)
    rows, cols = [], []
    visits = [v for p in patients for v in p.visits]
    for r, visit in enumerate(visits):
        ids = [i for i in map(vocabs.diag.get, visit.diagnoses) if i is not None]
        ids += [n_diag + i for i in map(vocabs.proc.get, visit.procedures) if i is not None]
        rows += [r] * len(ids)
        cols += ids
    shape = (len(visits), n_diag + len(vocabs.proc))
    data = np.ones(len(rows), dtype=np.float64)
    return sparse.csr_matrix((data, (rows, cols)), shape=shape)


@dataclass(frozen=True)
class LogisticModel:
    """One-vs-rest logistic regression fitted by :func:`fit_logistic`.

    Attributes:
        prior: ``[M]`` share of training visits with each med (the score of an unfitted med).
        models: the fitted model of each med present in some, but not all, training visits.
    """

    prior: np.ndarray
    models: dict[int, LogisticRegression]

    def predict_proba(self, features: sparse.csr_matrix) -> np.ndarray:
        """Return ``[visits, M]`` probabilities for :func:`visit_features` rows."""
        prob = np.tile(self.prior, (features.shape[0], 1))
        for med, model in self.models.items():
            prob[:, med] = model.predict_proba(features)[:, 1]
        return prob


_FITTED: OrderedDict[str, LogisticModel] = OrderedDict()


def _fit_key(x: sparse.csr_matrix, y: np.ndarray, seed: int, c: float) -> str:
    """A digest of everything a fit depends on: the features, the targets and the options."""
    digest = hashlib.sha256(f"{x.shape}|{y.shape}|{y.dtype}|{seed}|{c!r}".encode())
    for part in (x.indptr, x.indices, x.data, y):
        digest.update(b"|" + np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def fit_logistic(
    train: Sequence[Patient], vocabs: Vocabularies, *, seed: int = 0, c: float = LR_C
) -> LogisticModel:
    """Fit one-vs-rest logistic regression from a visit's diagnoses and procedures to its meds.

    One ``LogisticRegression(C=c, solver="liblinear")`` per med, as the reference's
    ``OneVsRestClassifier(LogisticRegression(C=0.90909))`` (liblinear was sklearn's default
    solver then). A med present in every training visit, or in none, gets that constant share
    as its score instead of a fitted model.

    The fit is deterministic, so the last :data:`LR_CACHE_SIZE` models are kept by a digest of
    their features, targets, ``seed`` and ``c``: the same fit asked for again in one process
    (a training job's baselines, then its export's report) is returned, not refitted. The
    returned model is shared; do not modify it.
    """
    x_train = visit_features(train, vocabs)
    y_train = np.concatenate([_targets(p, vocabs.med) for p in train])
    key = _fit_key(x_train, y_train, seed, c)
    if key in _FITTED:
        _FITTED.move_to_end(key)
        return _FITTED[key]
    models = {}
    for med in np.flatnonzero(y_train.any(axis=0) & ~y_train.all(axis=0)):
        model = LogisticRegression(C=c, solver="liblinear", random_state=seed, max_iter=1000)
        model.fit(x_train, y_train[:, med])
        models[int(med)] = model
    fitted = LogisticModel(prior=y_train.mean(axis=0), models=models)
    _FITTED[key] = fitted
    while len(_FITTED) > LR_CACHE_SIZE:
        _FITTED.popitem(last=False)
    return fitted


def per_patient(rows: np.ndarray, patients: Sequence[Patient]) -> list[np.ndarray]:
    """Cut ``[visits, M]`` rows (patients' visits in order) into one ``[V_p, M]`` per patient."""
    bounds = np.cumsum([0] + [len(p.visits) for p in patients])
    return [rows[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def logistic_baseline(
    train: Sequence[Patient],
    test: Sequence[Patient],
    vocabs: Vocabularies,
    *,
    seed: int = 0,
    c: float = LR_C,
) -> list[np.ndarray]:
    """Score ``test`` with :func:`fit_logistic` fitted on ``train`` (GAMENet's "LR" row).

    Returns:
        per test patient, float ``[V_p, M]`` predicted probabilities.
    """
    model = fit_logistic(train, vocabs, seed=seed, c=c)
    return per_patient(model.predict_proba(visit_features(test, vocabs)), test)


def baseline_table(
    train: Sequence[Patient],
    test: Sequence[Patient],
    vocabs: Vocabularies,
    ddi_adj: np.ndarray,
    threshold: float,
    *,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """Return ``{baseline name: bootstrap metrics}`` on ``test`` for the report's table.

    Args:
        train: training patients (the baselines fit on them).
        test: the patients the models are reported on.
        vocabs: the model's vocabularies.
        ddi_adj: ``[M, M]`` DDI adjacency over ``vocabs.med``.
        threshold: the models' decision threshold.
        seed: for logistic regression and the bootstrap.

    Returns:
        ``{"frequency" | "nearest" | "logistic_regression": {metric: {"mean", "std"}}}``.
    """
    y_true = med_targets(test, vocabs.med)
    scores = {
        "frequency": frequency_baseline(train, test, vocabs, threshold=threshold),
        "nearest": nearest_baseline(train, test, vocabs, threshold=threshold),
        "logistic_regression": logistic_baseline(train, test, vocabs, seed=seed),
    }
    return {
        name: bootstrap_metrics(y_true, y_prob, threshold=threshold, ddi_adj=ddi_adj, seed=seed)
        for name, y_prob in scores.items()
    }
