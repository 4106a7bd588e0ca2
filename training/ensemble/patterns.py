"""The pattern of a visit: the bucket whose mixing weights the ensemble applies to it.

Three questions, answered from what the service sees (known codes only, as the recommender's
feeds hold them), give ten buckets:

- **history**: how many visits came before this one: 0, 1, or 2+;
- **codes**: the visit's known diagnoses plus procedures, ``few`` (at most the median over the
  training visits) or ``many`` (above it);
- **past meds**: whether any known medication was given at an earlier visit (never, without an
  earlier visit; the last row of ``med_history`` is the visit being predicted, always zero).

A first visit has 2 buckets (codes), a later one 2 x 2 x 2 (history 1 or 2+, codes, past meds).
Ten buckets keep each one's validation support in the hundreds on MIMIC-size data; a bucket with
too little support takes the global weights (:mod:`training.ensemble.mixing`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.batching import EncodedPatient

NUM_BUCKETS = 10


def bucket_names() -> list[str]:
    """The readable name of each bucket, in index order."""
    names = [f"history 0, {codes} codes" for codes in ("few", "many")]
    for history in ("1", "2+"):
        for codes in ("few", "many"):
            for meds in ("no past meds", "past meds"):
                names.append(f"history {history}, {codes} codes, {meds}")
    return names


def bucket_index(
    past_visits: np.ndarray, codes: np.ndarray, has_past_meds: np.ndarray, code_median: float
) -> np.ndarray:
    """Return the bucket of each visit (int64, same shape as the inputs).

    The torch form in :mod:`training.ensemble.export` computes the same formula on the feeds.
    """
    history = np.minimum(past_visits, 2).astype(np.int64)
    many = (codes > code_median).astype(np.int64)
    later = 2 + (history - 1) * 4 + many * 2 + has_past_meds.astype(np.int64)
    return np.where(history == 0, many, later)


def visit_buckets(patients: Sequence[EncodedPatient], code_median: float) -> list[np.ndarray]:
    """Return, per patient, the int64 ``[V_p]`` bucket of each of its visits."""
    out = []
    for patient in patients:
        codes = np.array([len(d) + len(p) for d, p in zip(patient.diag, patient.proc, strict=True)])
        given = np.array([len(m) > 0 for m in patient.meds], dtype=bool)
        has_past_meds = np.concatenate([[False], np.cumsum(given)[:-1] > 0])
        past = np.arange(patient.num_visits)
        out.append(bucket_index(past, codes, has_past_meds, code_median))
    return out


def code_median(train: Sequence[EncodedPatient]) -> float:
    """The median number of known diagnoses plus procedures over the training visits.

    Raises:
        ValueError: if ``train`` has no visits.
    """
    counts = [
        len(d) + len(p)
        for patient in train
        for d, p in zip(patient.diag, patient.proc, strict=True)
    ]
    if not counts:
        raise ValueError("ensemble: the training split has no visits")
    return float(np.median(counts))
