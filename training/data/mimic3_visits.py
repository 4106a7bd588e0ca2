"""Turn the filtered MIMIC-III tables into canonical patients: visits in admission-time order."""

from __future__ import annotations

import sys
from datetime import datetime
from functools import cache

import polars as pl

from app.contract.codes import CodeSystem
from training.data.records import Code, Patient, Visit

KEYS = ["SUBJECT_ID", "HADM_ID"]


def _codes_per_visit(table: pl.DataFrame, name: str) -> pl.DataFrame:
    """Codes of each visit in ``SEQ_NUM`` order (file order breaks ties), distinct."""
    ordered = table.sort([*KEYS, "SEQ_NUM", "_row"], nulls_last=True)
    return ordered.group_by(KEYS, maintain_order=True).agg(
        pl.col("ICD9_CODE").unique(maintain_order=True).alias(name)
    )


def assemble_patients(visits: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> list[Patient]:
    """Join the kept visits with their codes and meds; patients in SUBJECT_ID order.

    Args:
        visits: the kept ``SUBJECT_ID, HADM_ID`` pairs.
        tables: ``admissions`` (with parsed ``ADMITTIME``), ``diagnoses``, ``procedures`` and
            ``prescriptions`` (with ``atc3``), already filtered.
    """
    meds = tables["prescriptions"].group_by(KEYS).agg(pl.col("atc3").unique().sort().alias("meds"))
    frame = (
        visits.join(tables["admissions"].select([*KEYS, "ADMITTIME"]), on=KEYS)
        .join(_codes_per_visit(tables["diagnoses"], "dx"), on=KEYS)
        .join(_codes_per_visit(tables["procedures"], "proc"), on=KEYS)
        .join(meds, on=KEYS)
        .sort(["SUBJECT_ID", "ADMITTIME", "HADM_ID"])
    )
    patients: list[Patient] = []
    current: list[Visit] = []
    current_id: int | None = None
    for subject, hadm, admit, dx, proc, med in frame.select(
        "SUBJECT_ID", "HADM_ID", "ADMITTIME", "dx", "proc", "meds"
    ).iter_rows():
        if subject != current_id and current:
            patients.append(Patient(str(current_id), tuple(current)))
            current = []
        current_id = subject
        current.append(_visit(hadm, admit, dx, proc, med))
    if current:
        patients.append(Patient(str(current_id), tuple(current)))
    return patients


@cache
def _dx(code: str) -> Code:
    return Code(CodeSystem.ICD9CM.value, code)


@cache
def _proc(code: str) -> Code:
    return Code(CodeSystem.ICD9PROC.value, code)


def _visit(hadm: int, admit: datetime, dx: list[str], proc: list[str], meds: list[str]) -> Visit:
    # Codes are interned (one object per distinct code): a full export holds millions of them.
    return Visit(
        visit_id=str(hadm),
        time=admit.isoformat(timespec="seconds"),
        diagnoses=tuple(_dx(c) for c in dx),
        procedures=tuple(_proc(c) for c in proc),
        medications=tuple(sys.intern(m) for m in meds),
    )
