"""One row of a report: a predictor's figures on the footing's validation and test patients.

Every row is scored on the same patients and visits (all visits of every test patient, a first
visit included) with :mod:`training.metrics`: at the fixed threshold (0.5) and at the threshold
tuned on the validation patients (:func:`training.metrics.tune_threshold`), with the bootstrap
of :func:`training.metrics.bootstrap_metrics`. Also: Jaccard by number of past visits, the
pooled precision-recall curve, and the ``max_ddi_rate`` curve at the tuned threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from training.data.records import Patient
from training.evaluate.ddi_curve import ddi_curve
from training.evaluate.footing import Footing, align, visits_digest
from training.evaluate.predictor import Predictor
from training.metrics import (
    FIXED_THRESHOLD,
    bootstrap_metrics,
    tune_threshold,
    visit_jaccard,
)

PAST_VISIT_BUCKETS = ("0", "1", "2", "3+")
PR_POINTS = 200  # the PR curve kept in report.json, evenly spaced along its points


def _scores(
    predictor: Predictor, patients: Sequence[Patient], footing: Footing
) -> list[np.ndarray]:
    """The predictor's scores on ``patients``, checked and aligned to the footing's columns."""
    raw = predictor.predict(patients)
    columns = list(predictor.med_vocab)
    if len(raw) != len(patients):
        raise ValueError(
            f"{predictor.name}: {len(raw)} score matrices for {len(patients)} patients"
        )
    for p, s in zip(patients, raw, strict=True):
        if s.shape != (len(p.visits), len(columns)):
            raise ValueError(
                f"{predictor.name}: patient {p.patient_id} scored {s.shape}, "
                f"expected ({len(p.visits)}, {len(columns)})"
            )
    return align(raw, columns, footing.med_vocab)


def by_past_visits(
    y_true: Sequence[np.ndarray], y_prob: Sequence[np.ndarray], threshold: float
) -> dict[str, dict[str, float]]:
    """Return the mean visit Jaccard and visit count for 0, 1, 2 and 3+ past visits.

    Within a bucket every visit weighs the same (a patient contributes one visit to each bucket
    below its length, so patient averaging would not change the first three).
    """
    values: dict[str, list[float]] = {b: [] for b in PAST_VISIT_BUCKETS}
    for true, prob in zip(y_true, y_prob, strict=True):
        for t, j in enumerate(visit_jaccard(true, prob, threshold)):
            values[PAST_VISIT_BUCKETS[min(t, 3)]].append(float(j))
    return {
        b: {"jaccard": float(np.mean(v)) if v else 0.0, "visits": len(v)} for b, v in values.items()
    }


def pr_curve(y_true: Sequence[np.ndarray], y_prob: Sequence[np.ndarray]) -> dict[str, list[float]]:
    """Return the micro-averaged precision-recall curve over every (visit, med) cell."""
    true = np.concatenate([t.ravel() for t in y_true])
    prob = np.concatenate([p.ravel() for p in y_prob])
    precision, recall, _ = precision_recall_curve(true, prob)
    keep = np.unique(
        np.linspace(0, len(recall) - 1, min(PR_POINTS, len(recall))).round().astype(int)
    )
    return {
        "precision": [round(float(x), 5) for x in precision[keep]],
        "recall": [round(float(x), 5) for x in recall[keep]],
    }


def score_row(
    predictor: Predictor,
    footing: Footing,
    *,
    kind: str,
    targets: Sequence[float],
    bootstrap_rounds: int,
    seed: int,
) -> dict[str, Any]:
    """Score ``predictor`` on the footing's validation (to tune) and test patients (to report).

    Returns:
        The row of ``report.json``: name, kind, the scored test patients and visits (counts and
        digest), the dropped columns, both thresholds and their test figures, Jaccard by past
        visits, the PR curve and the DDI curve.
    """
    val, test = footing.split.val, footing.split.test
    tuned = tune_threshold(footing.truth(val), _scores(predictor, val, footing))
    y_true, y_prob = footing.truth(test), _scores(predictor, test, footing)

    def boot(threshold: float) -> dict[str, dict[str, float]]:
        return bootstrap_metrics(
            y_true,
            y_prob,
            threshold=threshold,
            ddi_adj=footing.ddi_adj,
            rounds=bootstrap_rounds,
            seed=seed,
        )

    return {
        "name": predictor.name,
        "kind": kind,
        "test_patients": len(test),
        "test_visits": int(sum(len(y) for y in y_prob)),
        "test_visits_sha256": visits_digest(test),
        "columns": len(predictor.med_vocab),
        "columns_outside_evaluation": sum(c not in footing.med_vocab for c in predictor.med_vocab),
        "thresholds": {"fixed": FIXED_THRESHOLD, "tuned": tuned},
        "fixed": boot(FIXED_THRESHOLD),
        "tuned": boot(tuned),
        "by_past_visits": {
            "fixed": by_past_visits(y_true, y_prob, FIXED_THRESHOLD),
            "tuned": by_past_visits(y_true, y_prob, tuned),
        },
        "pr_curve": pr_curve(y_true, y_prob),
        "ddi_curve": ddi_curve(
            y_true, y_prob, threshold=tuned, interacts=footing.interacts(), targets=targets
        ),
    }
