"""Write canonical Patients as a Synthea CSV export, with the mapping CSVs that read it back.

Synthea codes in SNOMED CT and RxNorm, so each ICD code gets a made-up SNOMED id (written to
``snomed_conditions.csv`` / ``snomed_procedures.csv`` as ``snomed,system,code``) and each ATC3 class
a made-up RxCUI (``rxcui2atc.csv``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from training.data.records import Code, Patient
from training.data.writers.common import CsvTables, fake_rxcui, write_atc_map

HEADERS = {
    "patients": ["Id", "BIRTHDATE"],
    "encounters": ["Id", "START", "STOP", "PATIENT", "ENCOUNTERCLASS", "CODE", "DESCRIPTION"],
    "conditions": ["START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION"],
    "procedures": ["START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION"],
    "medications": ["START", "STOP", "PATIENT", "PAYER", "ENCOUNTER", "CODE", "DESCRIPTION"],
}


class SyntheaMappings(NamedTuple):
    """The mapping CSVs written beside a Synthea export."""

    conditions: Path
    procedures: Path
    medications: Path


def write_synthea_export(patients: Iterable[Patient], out_dir: Path) -> SyntheaMappings:
    """Write the Synthea CSVs and their mapping CSVs to ``out_dir``.

    Raises:
        ValueError: if a visit has no time.
    """
    snomed: dict[str, dict[Code, str]] = {"conditions": {}, "procedures": {}}
    atcs: set[str] = set()
    with CsvTables(out_dir, HEADERS) as out:
        for patient in patients:
            pid = patient.patient_id
            out.row("patients", pid, "2000-01-01")
            for visit in patient.visits:
                if visit.time is None:
                    raise ValueError("write_synthea_export: every visit needs a time")
                start, vid = visit.time + "Z", visit.visit_id
                out.row("encounters", vid, start, start, pid, "inpatient", "185347001", "visit")
                for table, codes in (
                    ("conditions", visit.diagnoses),
                    ("procedures", visit.procedures),
                ):
                    ids = snomed[table]
                    for code in codes:
                        sct = ids.setdefault(code, str(100_000_000 + len(ids)))
                        out.row(table, start[:10], None, pid, vid, sct, code.code)
                for atc3 in visit.medications:
                    atcs.add(atc3)
                    out.row("medications", start, None, pid, None, vid, fake_rxcui(atc3), atc3)
    paths = SyntheaMappings(
        out_dir / "snomed_conditions.csv",
        out_dir / "snomed_procedures.csv",
        out_dir / "rxcui2atc.csv",
    )
    for table, path in (("conditions", paths.conditions), ("procedures", paths.procedures)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["snomed", "system", "code"])
            writer.writerows([sct, c.system, c.code] for c, sct in snomed[table].items())
    write_atc_map(paths.medications, "rxcui", ((fake_rxcui(a), a) for a in atcs))
    return paths
