"""Write canonical Patients as an OMOP CDM 5.4 export (CSV or Parquet).

With ``vocabulary=True`` the export carries ``concept`` and ``concept_relationship``: ICD source
concepts for conditions and procedures, and for each drug an RxNorm clinical drug linked to an
ingredient ('RxNorm has ing') linked to an ATC class ('RxNorm - ATC'), the two-step route real
vocabularies take. ``drug_source_value`` always holds a made-up NDC, and ``ndc2atc.csv`` maps it,
so the same export also reads without the vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from training.data.records import Code, Patient
from training.data.writers.common import CsvTables, atc4_of, dotted, fake_ndc, write_atc_map

VOCABULARY_ID = {
    "icd9cm": "ICD9CM",
    "icd10cm": "ICD10CM",
    "icd9proc": "ICD9Proc",
    "icd10pcs": "ICD10PCS",
}
HEADERS = {
    "person": ["person_id", "gender_concept_id", "year_of_birth"],
    "visit_occurrence": [
        "visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date",
        "visit_start_datetime",
    ],
    "condition_occurrence": [
        "condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
        "visit_occurrence_id", "condition_source_value", "condition_source_concept_id",
    ],
    "procedure_occurrence": [
        "procedure_occurrence_id", "person_id", "procedure_concept_id", "procedure_date",
        "visit_occurrence_id", "procedure_source_value", "procedure_source_concept_id",
    ],
    "drug_exposure": [
        "drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date",
        "visit_occurrence_id", "drug_source_value",
    ],
}  # fmt: skip
VOCAB_HEADERS = {
    "concept": ["concept_id", "concept_name", "vocabulary_id", "concept_class_id", "concept_code"],
    "concept_relationship": ["concept_id_1", "concept_id_2", "relationship_id", "invalid_reason"],
}


class _Concepts:
    """Made-up concept ids, one per (vocabulary, code)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, str], int] = {}

    def id(self, vocabulary: str, concept_class: str, code: str) -> int:
        return self.ids.setdefault((vocabulary, concept_class, code), 2_000_000_000 + len(self.ids))


def write_omop_export(
    patients: Iterable[Patient], out_dir: Path, *, vocabulary: bool = True, parquet: bool = False
) -> Path:
    """Write the OMOP tables to ``out_dir`` and return the path of its ``ndc2atc.csv``.

    Raises:
        ValueError: if a visit has no time or a code is not ICD-9/ICD-10.
    """
    concepts = _Concepts()
    atcs: set[str] = set()
    counter = iter(range(1, 1 << 62))
    with CsvTables(out_dir, HEADERS) as out:
        for patient in patients:
            pid = patient.patient_id
            out.row("person", pid, 0, None)
            for visit in patient.visits:
                if visit.time is None:
                    raise ValueError("write_omop_export: every visit needs a time")
                vid, day = visit.visit_id, visit.time[:10]
                out.row("visit_occurrence", vid, pid, 9201, day, visit.time.replace("T", " "))
                for code in visit.diagnoses:
                    cid = _icd_concept(concepts, code)
                    out.row(
                        "condition_occurrence", next(counter), pid, 0, day, vid, dotted(code), cid
                    )
                for code in visit.procedures:
                    cid = _icd_concept(concepts, code)
                    out.row(
                        "procedure_occurrence", next(counter), pid, 0, day, vid, dotted(code), cid
                    )
                for atc3 in visit.medications:
                    drug = concepts.id("RxNorm", "Clinical Drug", "drug-" + atc3)
                    out.row("drug_exposure", next(counter), pid, drug, day, vid, fake_ndc(atc3))
                    atcs.add(atc3)
    if vocabulary:
        _write_vocabulary(out_dir, concepts, atcs)
    if parquet:
        for csv in sorted(out_dir.glob("*.csv")):
            pl.read_csv(csv, infer_schema=False).write_parquet(csv.with_suffix(".parquet"))
            csv.unlink()
    mapping = out_dir / "ndc2atc.csv"
    write_atc_map(mapping, "ndc", ((fake_ndc(a), a) for a in atcs))
    return mapping


def _icd_concept(concepts: _Concepts, code: Code) -> int:
    if code.system not in VOCABULARY_ID:
        raise ValueError(f"write_omop_export: code system {code.system!r} is not ICD")
    return concepts.id(VOCABULARY_ID[code.system], "ICD code", dotted(code))


def _write_vocabulary(out_dir: Path, concepts: _Concepts, atcs: set[str]) -> None:
    with CsvTables(out_dir, VOCAB_HEADERS) as out:
        for atc3 in sorted(atcs):
            drug = concepts.id("RxNorm", "Clinical Drug", "drug-" + atc3)
            ingredient = concepts.id("RxNorm", "Ingredient", "ing-" + atc3)
            atc = concepts.id("ATC", "ATC 4th", atc4_of(atc3))
            out.row("concept_relationship", drug, ingredient, "RxNorm has ing", None)
            out.row("concept_relationship", ingredient, atc, "RxNorm - ATC", None)
            out.row("concept_relationship", atc, ingredient, "ATC - RxNorm", None)
        for (vocabulary, concept_class, code), cid in concepts.ids.items():
            out.row("concept", cid, f"{vocabulary} {code}", vocabulary, concept_class, code)
