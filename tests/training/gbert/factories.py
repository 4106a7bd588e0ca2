"""Tiny synthetic patients for G-BERT training tests (no real data)."""

from __future__ import annotations

import random

from training.data.records import Code, Patient, Visit

# The smallest G-BERT a training job can run (job params), shared by the job tests.
GBERT_JOB_TINY: dict[str, object] = {
    "pretrain_epochs": 1,
    "dha_epochs": 1,
    "fusion_epochs": 1,
    "epochs": 1,
    "hidden": 16,
    "heads": 4,
    "head_dim": 4,
    "intermediate": 16,
    "batch_size": 16,
    "calibration_visits": 32,
    "split": "random",
}

DX = ["4019", "25000", "4280", "42731", "5849", "V4581", "E8782", "0389", "2724", "51881"]
MEDS = ["N02B", "C07A", "A02B", "B01A", "C03C", "A12C", "N05B"]
PX = ["3893", "9904", "8856", "3961", "0040"]  # ICD-9 procedures
PX_MEDS = ["A12C", "N05B", "C03C", "B01A", "N02B"]  # the medication each procedure brings


def tiny_patients(n: int = 40, seed: int = 0, procedures: bool = False) -> list[Patient]:
    """Patients of 1-4 visits whose meds follow their diagnoses loosely.

    With ``procedures`` each visit also has 0-2 ICD-9 procedures, each adding its own medication
    (drawn from a second RNG, so the diagnoses are those of ``procedures=False``).
    """
    rng, px_rng = random.Random(seed), random.Random(seed + 1)
    out = []
    for p in range(n):
        visits = []
        for v in range(rng.randint(1, 4)):
            dx = rng.sample(DX, rng.randint(1, 4))
            meds = {MEDS[DX.index(c) % len(MEDS)] for c in dx} | {rng.choice(MEDS)}
            px = px_rng.sample(PX, px_rng.randint(0, 2)) if procedures else []
            meds |= {PX_MEDS[PX.index(c)] for c in px}
            visits.append(
                Visit(
                    f"{p}-{v}",
                    None,
                    tuple(Code("icd9cm", c) for c in dx),
                    tuple(Code("icd9proc", c) for c in px),
                    tuple(sorted(meds)),
                )
            )
        out.append(Patient(str(p), tuple(visits)))
    return out
