"""Tiny synthetic patients for the GAMENet training tests (no real data)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from training.data.dataset import write_dataset
from training.data.records import Code, Patient, Visit

MEDS = [
    f"{a}{n:02d}{b}"
    for a, n, b in (
        ("A", 1, "A"),
        ("B", 1, "A"),
        ("C", 3, "C"),
        ("C", 7, "A"),
        ("N", 2, "B"),
        ("N", 5, "A"),
        ("J", 1, "C"),
        ("R", 3, "A"),
    )
]


def random_patients(n: int, seed: int = 0, max_visits: int = 4) -> list[Patient]:
    """Patients whose meds follow their diagnoses, so a model has something to learn."""
    rng = random.Random(seed)
    patients = []
    for p in range(n):
        visits = []
        for v in range(rng.randint(1, max_visits)):
            dx = sorted(rng.sample(range(12), rng.randint(1, 4)))
            px = sorted(rng.sample(range(6), rng.randint(1, 2)))
            meds = sorted({MEDS[d % len(MEDS)] for d in dx} | {MEDS[px[0] + 2]})
            visits.append(
                Visit(
                    visit_id=f"{p}-{v}",
                    time=None,
                    diagnoses=tuple(Code("icd9cm", f"{d:03d}") for d in dx),
                    procedures=tuple(Code("icd9proc", f"{x:02d}") for x in px),
                    medications=tuple(meds),
                )
            )
        patients.append(Patient(str(p), tuple(visits)))
    return patients


@pytest.fixture
def patients() -> list[Patient]:
    return random_patients(40)


def make_dataset(root: Path, n: int = 45, *, with_ddi: bool = True) -> Path:
    data = root / "data"
    write_dataset(random_patients(n), data, source_format="synthetic")
    if with_ddi:
        (data / "ddi.csv").write_text(f"atc3_a,atc3_b\n{MEDS[0]},{MEDS[1]}\n{MEDS[2]},{MEDS[4]}\n")
    return data
