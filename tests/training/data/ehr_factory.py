"""Tiny seeded canonical patients for the export readers' round-trip tests."""

from __future__ import annotations

import random

from training.data.records import Code, Patient, Visit

ATC3 = ["A02B", "A10B", "B01A", "C03C", "C07A", "C09A", "C10A", "J01C", "N02B", "N05B", "R03A"]
ICD9CM = ["4019", "25000", "4280", "E8790", "V4581", "5849", "42731"]
ICD10CM = ["I10", "E119", "I509", "N179", "Z9981", "J449"]
ICD9PROC = ["3893", "9904", "3961", "8856"]
ICD10PCS = ["02HV33Z", "5A1955Z", "0BH17EZ"]


def random_patients(n: int, seed: int = 0, *, mixed: bool = True) -> list[Patient]:
    """``n`` patients with 2-4 visits each, every visit holding dx, proc and meds.

    ``mixed`` draws ICD-9 and ICD-10 codes side by side; otherwise ICD-10 only.
    """
    rng = random.Random(seed)
    dx_pool = [Code("icd10cm", c) for c in ICD10CM]
    pr_pool = [Code("icd10pcs", c) for c in ICD10PCS]
    if mixed:
        dx_pool += [Code("icd9cm", c) for c in ICD9CM]
        pr_pool += [Code("icd9proc", c) for c in ICD9PROC]
    patients = []
    visit_id = 1000
    for p in range(n):
        visits = []
        for v in range(rng.randint(2, 4)):
            visit_id += 1
            visits.append(
                Visit(
                    visit_id=str(visit_id),
                    time=f"21{10 + v:02d}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T0{v}:30:00",
                    diagnoses=tuple(rng.sample(dx_pool, rng.randint(1, 5))),
                    procedures=tuple(rng.sample(pr_pool, rng.randint(1, 3))),
                    medications=tuple(sorted(rng.sample(ATC3, rng.randint(1, 5)))),
                )
            )
        patients.append(Patient(str(p + 1), tuple(visits)))
    return patients


def synthetic_cohort(n: int, seed: int = 3) -> list[Patient]:
    """``n`` patients from the project's synthetic generator (for the at-scale round trips)."""
    from training.data.synth import SynthConfig, generate_patients

    return list(generate_patients(SynthConfig(patients=n, seed=seed)))
