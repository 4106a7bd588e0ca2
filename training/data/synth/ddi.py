"""A typed synthetic DDI table of ATC3 pairs, calibrated to a target co-prescription DDI rate.

Pairs that pharmacology says interact (anticoagulants with NSAIDs, QT-prolonging classes together,
CNS depressants together...) are preferred, each with its interaction types. The table is grown in
a seeded random order until the pooled DDI rate of a calibration cohort (interacting pairs / all
pairs over its visits, as ``training.metrics.ddi_rate`` computes it) reaches the target; a cohort
drawn with another seed then lands close to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from functools import cache

import numpy as np

from app.contract.ddi_table import DdiPair, DdiTable
from training.data.records import Patient
from training.data.synth.catalog import ATC3_CLASSES
from training.data.synth.generator import SynthConfig, generate_patients

SOURCE = "synthetic"

# (interaction type, ATC prefixes of one side, ATC prefixes of the other side).
_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("bleeding", ("B01",), ("B01", "M01", "N06A", "C01B", "J01F")),
    (
        "qt_prolongation",
        ("C01B", "N05A", "J01F", "J01M", "A04A", "J02A"),
        ("C01B", "N05A", "J01F", "J01M", "A04A", "J02A", "N06A"),
    ),
    ("respiratory_depression", ("N02A", "N05B", "N05C", "N01A"), ("N02A", "N05B", "N05C", "N03A")),
    ("serotonin_syndrome", ("N06A",), ("N02A", "N06A", "N02C", "A04A")),
    ("hyperkalemia", ("C09", "C03D"), ("C09", "C03D", "A12B", "M01A", "B01A")),
    (
        "hypotension",
        ("C02", "C03", "C07", "C08", "C09"),
        ("C02", "C03", "C07", "C08", "C09", "G04C"),
    ),
    ("bradycardia", ("C07",), ("C08D", "C01A", "C01B", "N06D")),
    ("hypoglycemia", ("A10",), ("C07", "J01M", "A10")),
    ("nephrotoxicity", ("J01G", "J01X", "M01A", "L01"), ("C03C", "C09", "J01G", "J01X", "V08A")),
)
_FALLBACK_TYPES = ("cyp450_interaction", "absorption_interference", "hepatotoxicity")
_SEVERE = {"bleeding", "qt_prolongation", "respiratory_depression", "serotonin_syndrome"}


def interaction_types(a: str, b: str) -> tuple[str, ...]:
    """Return the rule-based interaction types of a pair (empty when no rule matches).

    >>> interaction_types("B01A", "M01A")
    ('bleeding',)
    """
    found = []
    for name, left, right in _RULES:
        if (a.startswith(left) and b.startswith(right)) or (
            b.startswith(left) and a.startswith(right)
        ):
            found.append(name)
    return tuple(found)


def pair_counts(patients: Iterable[Patient]) -> tuple[dict[tuple[str, str], int], int]:
    """Count co-prescribed ATC3 pairs over all visits; return the counts and the number of pairs."""
    counts: dict[tuple[str, str], int] = {}
    total = 0
    for patient in patients:
        for visit in patient.visits:
            meds = sorted(set(visit.medications))
            total += len(meds) * (len(meds) - 1) // 2
            for pair in itertools.combinations(meds, 2):
                counts[pair] = counts.get(pair, 0) + 1
    return counts, total


def pooled_ddi_rate(patients: Iterable[Patient], table: DdiTable) -> float:
    """Interacting pairs / all pairs, pooled over every visit (the literature's DDI rate)."""
    counts, total = pair_counts(patients)
    hits = sum(n for pair, n in counts.items() if table.get(*pair) is not None)
    return hits / total if total else 0.0


@cache  # the calibration cohort costs seconds; configs are frozen, tables immutable
def synthetic_ddi_table(config: SynthConfig) -> DdiTable:
    """Build the typed DDI table for ``config``: the same config always gives the same table."""
    calibration = SynthConfig(
        patients=config.calibration_patients,
        seed=config.seed + 7919,  # another cohort, same law
        p_readmit=config.p_readmit,
        max_visits=config.max_visits,
        tail_dx=config.tail_dx,
        tail_meds=config.tail_meds,
        p_complication=config.p_complication,
        p_carry_over=config.p_carry_over,
    )
    counts, total = pair_counts(generate_patients(calibration))
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    pairs = list(itertools.combinations(sorted(ATC3_CLASSES), 2))
    typed = [interaction_types(a, b) for a, b in pairs]
    # Known pharmacology first, in random order; then random pairs, as real tables hold both.
    priority = rng.random(len(pairs)) - np.array([1.0 if t else 0.0 for t in typed])
    rows: list[DdiPair] = []
    hits = 0
    for i in np.argsort(priority, kind="stable"):
        if total == 0 or hits / total >= config.target_ddi_rate:
            break
        pair = pairs[int(i)]
        n = counts.get(pair, 0)
        if hits + n > total * (config.target_ddi_rate + 0.005):
            continue  # would overshoot: skip this very common pair
        hits += n
        rows.append(_row(pair, typed[int(i)], rng))
    return DdiTable.from_pairs(rows, name=f"synthetic-seed{config.seed}")


def _row(pair: tuple[str, str], types: tuple[str, ...], rng: np.random.Generator) -> DdiPair:
    if not types:
        types = (_FALLBACK_TYPES[int(rng.integers(len(_FALLBACK_TYPES)))],)
    if _SEVERE & set(types):
        severity = "high" if rng.random() < 0.6 else "moderate"
    else:
        severity = ("moderate", "low", "unknown")[int(rng.choice(3, p=[0.5, 0.4, 0.1]))]
    return DdiPair(pair[0], pair[1], types, severity, SOURCE)
