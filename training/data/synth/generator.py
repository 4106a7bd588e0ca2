"""Seeded, streamed synthetic patients with real clinical structure.

Each patient has a frailty score and a set of chronic conditions whose odds depend on each other
(comorbidity). Each visit adds an admission reason and sometimes complications. Conditions drive
ICD-9 diagnoses and procedures; medications follow the current conditions *and* the patient's
history: a chronic condition's drugs are chosen once and then continued, and some drugs of the
previous visit carry over. Patients are yielded one at a time, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from training.data.records import Patient, Visit
from training.data.synth.model import CompiledCatalog, compiled_catalog, dx_code, proc_code

FIRST_SUBJECT_ID = 10_000
FIRST_HADM_ID = 100_000
_EPOCH = datetime(2100, 1, 1)  # MIMIC shifts dates into 2100-2200; so do we


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the synthetic cohort.

    Args:
        patients: number of patients.
        seed: seed of the cohort; the same seed gives the same patients.
        p_readmit: chance of one more visit after each visit (geometric, 1 to ``max_visits``).
        max_visits: most visits a patient can have.
        tail_dx: mean number of rare "noise" diagnoses per visit.
        tail_meds: mean number of rare medications per visit.
        p_complication: chance of each extra acute condition at a visit (before frailty).
        p_carry_over: chance a drug of the previous visit is given again.
        target_ddi_rate: pooled interacting-pair rate the DDI table is calibrated to.
        calibration_patients: patients simulated (with a derived seed) to calibrate the DDI table.
        unmapped_ndc_fraction: share of synthetic NDCs the mapping files leave unmapped.
    """

    patients: int = 1000
    seed: int = 0
    p_readmit: float = 0.55
    max_visits: int = 10
    tail_dx: float = 3.0
    tail_meds: float = 0.8
    p_complication: float = 0.07
    p_carry_over: float = 0.2
    target_ddi_rate: float = 0.07
    calibration_patients: int = 2000
    unmapped_ndc_fraction: float = 0.03

    def __post_init__(self) -> None:
        if self.patients < 0:
            raise ValueError("SynthConfig: patients must be >= 0")
        if not 1 <= self.max_visits <= 50:
            raise ValueError("SynthConfig: max_visits must be in 1..50")
        if not 0.0 < self.target_ddi_rate < 0.5:
            raise ValueError("SynthConfig: target_ddi_rate must be in (0, 0.5)")


def generate_patients(config: SynthConfig) -> Iterator[Patient]:
    """Yield ``config.patients`` canonical patients, one at a time.

    Patient ids start at 10000 and admission ids at 100000, as MIMIC-III's do.
    """
    catalog = compiled_catalog()
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    next_hadm = FIRST_HADM_ID
    for i in range(config.patients):
        patient = _patient(rng, catalog, config, str(FIRST_SUBJECT_ID + i), next_hadm)
        next_hadm += len(patient.visits)
        yield patient


def _chronic_conditions(
    rng: np.random.Generator, cat: CompiledCatalog, frailty: float
) -> list[int]:
    present: list[int] = []
    for j, cond in enumerate(cat.chronic):
        odds = cond.weight * np.exp(0.5 * frailty)
        for k, factor in cond.links:
            if k in present:
                odds *= factor
        if rng.random() < min(odds, 0.9):
            present.append(j)
    return present


def _visit_count(rng: np.random.Generator, config: SynthConfig) -> int:
    return int(min(config.max_visits, rng.geometric(1.0 - config.p_readmit)))


def _patient(
    rng: np.random.Generator,
    cat: CompiledCatalog,
    config: SynthConfig,
    patient_id: str,
    first_hadm: int,
) -> Patient:
    frailty = float(rng.normal())
    chronic = _chronic_conditions(rng, cat, frailty)
    chronic_meds: dict[int, list[str]] = {}
    previous: set[str] = set()
    when = _EPOCH + timedelta(days=float(rng.uniform(0, 365 * 90)), hours=float(rng.uniform(0, 24)))
    visits = []
    for k in range(_visit_count(rng, config)):
        if k:
            when += timedelta(days=30 + float(rng.exponential(300)), hours=float(rng.normal(0, 5)))
            chronic += [
                j
                for j in range(len(cat.chronic))
                if j not in chronic and rng.random() < cat.chronic[j].weight * 0.05
            ]
        visit = _visit(rng, cat, config, frailty, chronic, chronic_meds, previous)
        visits.append(Visit(str(first_hadm + k), when.isoformat(timespec="seconds"), *visit))
        previous = set(visit[2])
    return Patient(patient_id, tuple(visits))


def _acute_conditions(
    rng: np.random.Generator, cat: CompiledCatalog, config: SynthConfig, frailty: float
) -> list[int]:
    primary = int(np.searchsorted(cat.acute_cdf, rng.random(), side="right"))
    p = min(config.p_complication * np.exp(0.4 * frailty), 0.5)
    extra = np.flatnonzero(rng.random(len(cat.acute)) < p)
    return [primary] + [int(j) for j in extra if j != primary]


def _chronic_drugs(
    rng: np.random.Generator, cat: CompiledCatalog, j: int, chosen: dict[int, list[str]]
) -> list[str]:
    """A chronic condition's drugs: chosen at first need, then continued (90%) or switched."""
    draw = cat.chronic[j].meds
    if j not in chosen:
        chosen[j] = draw.sample(rng, at_least_one=True)
        return chosen[j]
    kept = [m for m in chosen[j] if rng.random() < 0.9]
    if rng.random() < 0.05 or (not kept and draw.items):
        kept = sorted(set(kept) | set(draw.sample(rng, at_least_one=True)))
    chosen[j] = kept
    return kept


def _visit(
    rng: np.random.Generator,
    cat: CompiledCatalog,
    config: SynthConfig,
    frailty: float,
    chronic: list[int],
    chronic_meds: dict[int, list[str]],
    previous: set[str],
) -> tuple[tuple, tuple, tuple[str, ...]]:  # type: ignore[type-arg]
    acute = [cat.acute[j] for j in _acute_conditions(rng, cat, config, frailty)]
    dx: list[str] = []
    procs: list[str] = []
    meds: set[str] = set(cat.routine_meds.sample(rng))
    for cond in acute:
        dx += cond.dx.sample(rng, at_least_one=True)
        procs += cond.proc.sample(rng)
        meds.update(cond.meds.sample(rng))
    for j in chronic:
        dx += cat.chronic[j].dx.sample(rng, at_least_one=True)
        meds.update(_chronic_drugs(rng, cat, j, chronic_meds))
    dx += cat.dx_tail.sample(rng, int(rng.poisson(config.tail_dx)))
    procs += cat.routine_procs.sample(rng)
    procs += cat.proc_tail.sample(rng, int(rng.poisson(0.5)))
    meds.update(m for m in sorted(previous) if rng.random() < config.p_carry_over)
    meds.update(cat.med_tail.sample(rng, int(rng.poisson(config.tail_meds))))
    return (
        tuple(dx_code(c) for c in dict.fromkeys(dx)),
        tuple(proc_code(c) for c in dict.fromkeys(procs)),
        tuple(sorted(meds)),
    )
