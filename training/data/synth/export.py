"""Write a synthetic cohort as a MIMIC-III-layout export, with its NDC mappings and DDI table.

The export holds ``ADMISSIONS.csv``, ``DIAGNOSES_ICD.csv``, ``PROCEDURES_ICD.csv`` and
``PRESCRIPTIONS.csv`` (upper-case headers, as the MIMIC-III files), ``ndc2rxcui.csv`` and
``ndc2atc.csv`` (the columns of the shared mapping files) and ``ddi.csv``. Like real MIMIC, a few
prescription rows have NDC ``0`` or none, a few NDCs have no ATC in the mapping, and some drugs
start after the first day. Rows are streamed, so memory does not grow with the cohort.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.ddi_table import write_ddi_csv
from training.data.records import Patient, Visit
from training.data.synth.catalog import ATC3_CLASSES
from training.data.synth.ddi import synthetic_ddi_table
from training.data.synth.generator import SynthConfig, generate_patients
from training.data.synth.model import CATALOG_SEED

_TIME = "%Y-%m-%d %H:%M:%S"
_FIRST_ICUSTAY = 200_000
_PLACEHOLDER_DRUGS = ("NS", "D5W", "Sodium Chloride 0.9%  Flush", "SW")

SYNTHETIC_MARKER = "SYNTHETIC.json"
HEADERS = {
    "ADMISSIONS.csv": [
        "ROW_ID",
        "SUBJECT_ID",
        "HADM_ID",
        "ADMITTIME",
        "DISCHTIME",
        "DEATHTIME",
        "ADMISSION_TYPE",
        "HOSPITAL_EXPIRE_FLAG",
    ],
    "DIAGNOSES_ICD.csv": ["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"],
    "PROCEDURES_ICD.csv": ["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"],
    "PRESCRIPTIONS.csv": [
        "ROW_ID",
        "SUBJECT_ID",
        "HADM_ID",
        "ICUSTAY_ID",
        "STARTDATE",
        "ENDDATE",
        "DRUG_TYPE",
        "DRUG",
        "NDC",
        "ROUTE",
    ],
}


@dataclass(frozen=True)
class Ndc:
    """A synthetic package NDC (11 digits, 5-4-2) of one ATC class."""

    ndc: str
    atc4: str
    atc5: str
    rxcui: str
    is_mapped: bool


@cache
def ndc_catalog(unmapped_fraction: float = 0.03) -> dict[str, tuple[Ndc, ...]]:
    """Return 2 to 4 NDCs per ATC3 class; the first of each is always mapped."""
    rng = np.random.default_rng(CATALOG_SEED + 1)
    catalog: dict[str, tuple[Ndc, ...]] = {}
    for i, atc3 in enumerate(ATC3_CLASSES):
        labeler = 10_000 + 211 * i
        ndcs = []
        for k in range(int(rng.integers(2, 5))):
            atc4 = atc3 + "ABCX"[int(rng.integers(4))]
            ndcs.append(
                Ndc(
                    ndc=f"{labeler:05d}{int(rng.integers(1, 10_000)):04d}{k + 1:02d}",
                    atc4=atc4,
                    atc5=f"{atc4}{int(rng.integers(1, 30)):02d}",
                    rxcui=str(int(rng.integers(100_000, 2_000_000))),
                    is_mapped=k == 0 or rng.random() >= unmapped_fraction * 3,
                )
            )
        catalog[atc3] = tuple(ndcs)
    return catalog


def write_mimic3_export(config: SynthConfig, out_dir: Path) -> dict[str, int]:
    """Generate ``config``'s cohort and write it as a MIMIC-III-layout export in ``out_dir``.

    Returns:
        Row counts per written file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ndcs = ndc_catalog(config.unmapped_ndc_fraction)
    _write_mappings(ndcs, out_dir)
    write_ddi_csv(synthetic_ddi_table(config), out_dir / "ddi.csv")
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
    files = {name: open(out_dir / name, "w", newline="", encoding="utf-8") for name in HEADERS}
    try:
        writers = {name: csv.writer(fh) for name, fh in files.items()}
        for name, header in HEADERS.items():
            writers[name].writerow(header)
        counts = dict.fromkeys(HEADERS, 0)
        for patient in generate_patients(config):
            _write_patient(patient, writers, counts, ndcs, rng)
    finally:
        for fh in files.values():
            fh.close()
    # Written last: its presence marks a complete export, and readers label the data synthetic.
    marker = {"generator": "medrec synth", "config": asdict(config), "rows": counts}
    (out_dir / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return counts


def _write_mappings(ndcs: dict[str, tuple[Ndc, ...]], out_dir: Path) -> None:
    with open(out_dir / "ndc2rxcui.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ndc", "rxcui"])
        writer.writerows([n.ndc, n.rxcui] for group in ndcs.values() for n in group)
    with open(out_dir / "ndc2atc.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ndc", "atc4", "atc5", "rxcui", "match"])
        for n in (n for group in ndcs.values() for n in group):
            mapped = n.is_mapped
            writer.writerow(
                [
                    n.ndc,
                    n.atc4 if mapped else "",
                    n.atc5 if mapped else "",
                    n.rxcui,
                    "synthetic" if mapped else "",
                ]
            )


def _write_patient(
    patient: Patient,
    writers: dict[str, Any],
    counts: dict[str, int],
    ndcs: dict[str, tuple[Ndc, ...]],
    rng: np.random.Generator,
) -> None:
    for visit in patient.visits:
        admit = datetime.fromisoformat(visit.time or "2100-01-01T00:00:00")
        los_days = (
            1 + int(rng.poisson(4.0)) if rng.random() < 0.97 else 1 + int(rng.integers(10, 25))
        )
        ids = [patient.patient_id, visit.visit_id]
        _emit(
            writers,
            counts,
            "ADMISSIONS.csv",
            [
                *ids,
                admit.strftime(_TIME),
                (admit + timedelta(days=los_days, hours=float(rng.uniform(-6, 6)))).strftime(_TIME),
                "",
                "EMERGENCY" if rng.random() < 0.8 else "ELECTIVE",
                0,
            ],
        )
        for seq, code in enumerate(visit.diagnoses, start=1):
            _emit(writers, counts, "DIAGNOSES_ICD.csv", [*ids, seq, code.code])
        for seq, code in enumerate(visit.procedures, start=1):
            _emit(writers, counts, "PROCEDURES_ICD.csv", [*ids, seq, code.code])
        _write_prescriptions(visit, ids, admit, los_days, writers, counts, ndcs, rng)


def _write_prescriptions(
    visit: Visit,
    ids: list[str],
    admit: datetime,
    los_days: int,
    writers: dict[str, Any],
    counts: dict[str, int],
    ndcs: dict[str, tuple[Ndc, ...]],
    rng: np.random.Generator,
) -> None:
    """One to a few rows per drug, then a few placeholder rows (NDC ``0`` or empty)."""
    icustay = str(_FIRST_ICUSTAY + int(visit.visit_id) - 100_000)
    day0 = admit.replace(hour=0, minute=0, second=0)
    days = [(day0 + timedelta(days=k)).strftime(_TIME) for k in range(los_days + 4)]
    head = [*ids, icustay]
    rows = _drug_rows(visit.medications, head, days, los_days, ndcs, rng)
    for _ in range(int(rng.poisson(0.4))):
        placeholder = _PLACEHOLDER_DRUGS[int(rng.integers(len(_PLACEHOLDER_DRUGS)))]
        ndc_text = "" if rng.random() < 0.01 else "0"
        rows.append([*head, days[0], days[1], "BASE", placeholder, ndc_text, "IV"])
    first = counts["PRESCRIPTIONS.csv"] + 1
    writers["PRESCRIPTIONS.csv"].writerows([first + k, *row] for k, row in enumerate(rows))
    counts["PRESCRIPTIONS.csv"] += len(rows)


def _drug_rows(
    meds: tuple[str, ...],
    head: list[str],
    days: list[str],
    los_days: int,
    ndcs: dict[str, tuple[Ndc, ...]],
    rng: np.random.Generator,
) -> list[list[Any]]:
    """Rows of a visit's drugs; draws are vectorised because this loop dominates generation."""
    reps = 1 + rng.poisson(0.3, len(meds))
    total = int(reps.sum())
    is_main_ndc = (rng.random(total) < 0.6).tolist()
    other_ndc = rng.integers(0, 1 << 20, total).tolist()
    start_day = np.where(rng.random(total) < 0.15, rng.integers(0, max(los_days, 1), total), 0)
    stop = (start_day + rng.integers(1, 4, total)).tolist()
    start = start_day.tolist()
    is_oral = (rng.random(total) < 0.5).tolist()
    rows: list[list[Any]] = []
    for r, med in enumerate(np.repeat(np.array(meds, dtype=object), reps).tolist()):
        group = ndcs[med]
        ndc = group[0] if is_main_ndc[r] else group[other_ndc[r] % len(group)]
        route = "PO" if is_oral[r] else "IV"
        rows.append(
            [*head, days[start[r]], days[stop[r]], "MAIN", f"SYN {ndc.atc5}", ndc.ndc, route]
        )
    return rows


def _emit(writers: dict[str, Any], counts: dict[str, int], name: str, row: list[Any]) -> None:
    counts[name] += 1
    writers[name].writerow([counts[name], *row])
