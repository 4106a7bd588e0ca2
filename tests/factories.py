"""Tiny random builders for tests: patients, visits and vocabularies. No real EHR data."""

from __future__ import annotations

import numpy as np

from training.data.records import Code, Patient, Visit

ATC3_POOL = tuple(f"{g}{n:02d}{s}" for g in "ABCN" for n in (1, 2, 3) for s in "AB")  # 24 classes


def make_visit(
    visit_id: str,
    *,
    diagnoses: tuple[str, ...] = (),
    procedures: tuple[str, ...] = (),
    medications: tuple[str, ...] = (),
) -> Visit:
    """A visit from bare ICD-9 codes and ATC3 classes (medications are sorted, as readers do)."""
    return Visit(
        visit_id=visit_id,
        time=None,
        diagnoses=tuple(Code("icd9cm", c) for c in diagnoses),
        procedures=tuple(Code("icd9proc", c) for c in procedures),
        medications=tuple(sorted(set(medications))),
    )


def random_patient(
    rng: np.random.Generator,
    patient_id: str,
    *,
    max_visits: int = 4,
    n_diag: int = 20,
    n_proc: int = 10,
    meds: tuple[str, ...] = ATC3_POOL,
) -> Patient:
    """A patient with 1..max_visits visits, each with a few random codes and at least one med."""
    visits = []
    for v in range(int(rng.integers(1, max_visits + 1))):
        dx = rng.choice(n_diag, size=int(rng.integers(1, 5)), replace=False)
        px = rng.choice(n_proc, size=int(rng.integers(1, 3)), replace=False)
        mx = rng.choice(len(meds), size=int(rng.integers(1, min(6, len(meds)) + 1)), replace=False)
        visits.append(
            make_visit(
                f"{patient_id}-{v}",
                diagnoses=tuple(f"D{i:03d}" for i in dx),
                procedures=tuple(f"P{i:02d}" for i in px),
                medications=tuple(meds[i] for i in mx),
            )
        )
    return Patient(patient_id, tuple(visits))


def random_patients(n: int, *, seed: int = 0, **kwargs: int) -> list[Patient]:
    """``n`` random patients, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [random_patient(rng, f"p{i}", **kwargs) for i in range(n)]  # type: ignore[arg-type]
