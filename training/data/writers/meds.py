"""Write canonical Patients as a MEDS dataset, in the conventions :mod:`training.data.meds` reads.

The layout is MEDS's: ``data/<split>/<shard>.parquet`` (``subject_id, time, code, numeric_value``
plus the custom column ``hadm_id``; each subject in one shard, its events sorted by time) and
``metadata/`` with ``codes.parquet``, ``dataset.json`` and ``subject_splits.parquet``. Each visit
is ``HOSPITAL_ADMISSION//INPATIENT`` at its time, then its procedures and medications at the same
time, its diagnoses at discharge one day later (as the MIMIC-IV MEDS ETL dates them), with
``numeric_value`` holding the diagnosis's 1-based rank, and ``HOSPITAL_DISCHARGE//HOME``. A
``MEDS_BIRTH`` event and a lab result per visit stand for the events the reader must skip.
Shards are written one at a time, so memory does not grow with the cohort.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import polars as pl

from training.data.records import Patient
from training.data.writers.common import check_icd, fake_ndc, write_atc_map

SCHEMA: dict[str, pl.DataType] = {
    "subject_id": pl.Int64(),
    "time": pl.Datetime("us"),
    "code": pl.String(),
    "numeric_value": pl.Float32(),
    "hadm_id": pl.Int64(),
}
MEDS_VERSION = "0.3.3"
STAY = timedelta(days=1)  # admission to discharge, when diagnoses are dated
_LAB = "LAB//50912//mg/dL"  # creatinine: an event the reader must skip
_Row = tuple[int, datetime | None, str, float | None, int | None]


def write_meds_export(
    patients: Iterable[Patient],
    out_dir: Path,
    *,
    shard_size: int = 1000,
    medication_codes: Literal["atc", "ndc"] = "atc",
) -> Path | None:
    """Write ``out_dir`` as a MEDS dataset; return the NDC mapping's path (``ndc`` codes only).

    Args:
        patients: the cohort; ids and visit ids must be integers, and visits a day apart.
        out_dir: the MEDS root to create (``data/``, ``metadata/``).
        shard_size: subjects per Parquet shard.
        medication_codes: ``MEDICATION//ATC//<atc3>``, or ``MEDICATION//NDC//<ndc>`` with made-up
            NDCs and the ``ndc2atc.csv`` that maps them back.

    Raises:
        ValueError: if an id is not an integer, a visit has no time, or visits overlap.
    """
    splits: list[tuple[int, str]] = []
    codes: set[str] = set()
    atcs: set[str] = set()
    counters: dict[str, int] = {}
    pending: dict[str, list[_Row]] = {}
    for patient in patients:
        subject = _integer(patient.patient_id, "patient id")
        split = _split_of(subject)
        splits.append((subject, split))
        rows = list(_events(subject, patient, medication_codes))
        codes.update(r[2] for r in rows)
        atcs.update(m for visit in patient.visits for m in visit.medications)
        pending.setdefault(split, []).extend(rows)
        counters[split] = counters.get(split, 0) + 1
        if counters[split] % shard_size == 0:
            _write_shard(out_dir, split, counters[split] // shard_size - 1, pending.pop(split))
    for split, rows in pending.items():
        _write_shard(out_dir, split, (counters[split] - 1) // shard_size, rows)
    _write_metadata(out_dir, splits, codes)
    if medication_codes == "atc":
        return None
    mapping = out_dir / "ndc2atc.csv"
    write_atc_map(mapping, "ndc", ((fake_ndc(a), a) for a in atcs))
    return mapping


def _integer(value: str, what: str) -> int:
    if not value.isdigit():
        raise ValueError(f"write_meds_export: the {what} {value!r} is not an integer")
    return int(value)


def _split_of(subject: int) -> str:
    """80/10/10 train/tuning/held_out by a hash of the id (stable across runs)."""
    bucket = zlib.crc32(str(subject).encode()) % 10
    return "train" if bucket < 8 else "tuning" if bucket == 8 else "held_out"


def _events(subject: int, patient: Patient, medication_codes: str) -> Iterator[_Row]:
    yield subject, None, "MEDS_BIRTH", None, None
    discharged: datetime | None = None
    for visit in patient.visits:
        if visit.time is None:
            raise ValueError("write_meds_export: every visit needs a time")
        admit = datetime.fromisoformat(visit.time)
        if discharged is not None and admit <= discharged:
            raise ValueError(
                f"write_meds_export: visit {visit.visit_id} starts before the last ends"
            )
        hadm, discharged = _integer(visit.visit_id, "visit id"), admit + STAY
        yield subject, admit, "HOSPITAL_ADMISSION//INPATIENT", None, hadm
        for code in visit.procedures:
            yield subject, admit, f"PROCEDURE//ICD//{check_icd(code)}//{code.code}", None, hadm
        for atc3 in visit.medications:
            drug = f"NDC//{fake_ndc(atc3)}" if medication_codes == "ndc" else f"ATC//{atc3}"
            yield subject, admit, f"MEDICATION//{drug}", None, hadm
        yield subject, admit + STAY / 2, _LAB, 1.1, hadm
        for rank, code in enumerate(visit.diagnoses, start=1):
            yield subject, discharged, f"DIAGNOSIS//ICD//{check_icd(code)}//{code.code}", rank, hadm
        yield subject, discharged, "HOSPITAL_DISCHARGE//HOME", None, hadm


def _write_shard(out_dir: Path, split: str, index: int, rows: list[_Row]) -> None:
    path = out_dir / "data" / split / f"{index}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=SCHEMA, orient="row").write_parquet(path)


def _write_metadata(out_dir: Path, splits: list[tuple[int, str]], codes: set[str]) -> None:
    meta = out_dir / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    dataset = {
        "dataset_name": "medrec-export",
        "dataset_version": "1",
        "etl_name": "training.data.writers.meds",
        "etl_version": "1",
        "meds_version": MEDS_VERSION,
        "created_at": datetime(2100, 1, 1).isoformat(),  # fixed: the same cohort, the same bytes
    }
    (meta / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n")
    pl.DataFrame(splits, schema={"subject_id": pl.Int64, "split": pl.String}, orient="row").sort(
        "subject_id"
    ).write_parquet(meta / "subject_splits.parquet")
    pl.DataFrame(
        {"code": sorted(codes), "description": None, "parent_codes": None},
        schema={"code": pl.String, "description": pl.String, "parent_codes": pl.List(pl.String)},
    ).write_parquet(meta / "codes.parquet")
