"""Write canonical Patients as a MIMIC-IV ``hosp/`` export plus its ``ndc2atc.csv`` mapping."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from training.data.records import Patient
from training.data.writers.common import CsvTables, check_icd, fake_ndc, write_atc_map

HEADERS = {
    "admissions": ["subject_id", "hadm_id", "admittime", "dischtime"],
    "diagnoses_icd": ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"],
    "procedures_icd": ["subject_id", "hadm_id", "seq_num", "chartdate", "icd_code", "icd_version"],
    "prescriptions": ["subject_id", "hadm_id", "starttime", "drug", "ndc"],
}


def write_mimic4_export(patients: Iterable[Patient], out_dir: Path) -> Path:
    """Write ``out_dir/hosp/*.csv`` and ``out_dir/ndc2atc.csv``; return the mapping's path.

    Raises:
        ValueError: if a visit has no time or a code is not ICD-9/ICD-10.
    """
    atcs: set[str] = set()
    with CsvTables(out_dir / "hosp", HEADERS) as out:
        for patient in patients:
            for visit in patient.visits:
                if visit.time is None:
                    raise ValueError("write_mimic4_export: every visit needs a time")
                sid, hid, time = patient.patient_id, visit.visit_id, visit.time.replace("T", " ")
                out.row("admissions", sid, hid, time, None)
                for i, code in enumerate(visit.diagnoses, start=1):
                    out.row("diagnoses_icd", sid, hid, i, code.code, check_icd(code))
                for i, code in enumerate(visit.procedures, start=1):
                    out.row("procedures_icd", sid, hid, i, time[:10], code.code, check_icd(code))
                for atc3 in visit.medications:
                    out.row("prescriptions", sid, hid, time, f"drug {atc3}", fake_ndc(atc3))
                    atcs.add(atc3)
    mapping = out_dir / "ndc2atc.csv"
    write_atc_map(mapping, "ndc", ((fake_ndc(a), a) for a in atcs))
    return mapping
