"""FHIR R4 Bulk Data (NDJSON) reader, grouping resources by encounter.

Resources: Encounter, Condition, Procedure, MedicationRequest and MedicationAdministration.
Every ``*.ndjson`` (or ``.ndjson.gz``) file in the export directory is read line by line, and each
line's ``resourceType`` decides what it is, so Bulk Data file names (``Encounter.ndjson``,
``1.Condition.ndjson``...) do not matter; other resource types are counted and ignored.

- Visits are Encounters (``subject`` → patient, ``period.start`` → time).
- Which resources count is ``app.contract.fhir``'s rule, the one the service applies to a
  request Bundle too: refuted or entered-in-error Conditions, entered-in-error or not-done
  Procedures and MedicationAdministrations, and MedicationRequests that are not orders given
  (``proposal`` and ``plan`` intents, ``cancelled`` or ``draft`` status: MedRec's own proposals
  among them) are dropped and counted, each as a filter of the data report.
- Conditions and Procedures join their visit through ``encounter``; MedicationAdministration
  through ``context`` (R4) or ``encounter``. Resources without an encounter are dropped and counted.
- Codes come from the first coding of a known system: ICD-10-CM / ICD-9-CM
  (``http://hl7.org/fhir/sid/icd-10-cm``, ``.../icd-9-cm``; in a Procedure, ICD-9-CM means volume
  3 procedures), ICD-10-PCS (``http://www.cms.gov/Medicare/Coding/ICD10``), else SNOMED CT, kept
  natively as ``snomed``. Codings of no known system are dropped and counted.
- Medications: an ATC coding (``http://www.whocc.no/atc``) wins; else RxNorm or NDC through the
  user's mapping CSV (``rxcui,atc4`` and/or ``ndc,atc4``). Unmapped medications are dropped and
  counted, as the MIMIC-III reader drops unmapped NDCs. A ``medicationReference`` is resolved to
  a contained Medication (``#id``) or to a Medication resource of the export by id (in any file,
  before or after the request: references are resolved once every file is read); one that
  resolves to nothing is counted as unmapped.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from app.contract import fhir
from app.contract.codes import atc3
from app.contract.errors import InputFileError
from app.contract.fhir import ATC, NDC, RXNORM
from training.data.dataset import DatasetManifest, FilterEffect, ReadResult, write_result
from training.data.ehr_io import ICD_PATTERN, header_columns
from training.data.ehr_maps import AtcMap, load_atc_map
from training.data.ehr_pipeline import (
    TIME_PATTERN,
    TIME_TAIL,
    EhrFilterConfig,
    EventTables,
    build_patients,
    count_unmapped,
)

SOURCE_FORMAT = "fhir"
DX_SYSTEMS = fhir.DIAGNOSIS_URIS
PROC_SYSTEMS = fhir.PROCEDURE_URIS
MED_TYPES = ("MedicationRequest", "MedicationAdministration")


@dataclass(frozen=True)
class FhirConfig:
    """How to read a FHIR R4 Bulk Data export.

    Args:
        atc_mapping: CSV with ``atc4`` and ``rxcui`` and/or ``ndc`` (RxNorm / NDC codings).
        filters: the shared MIMIC-III filters.
    """

    atc_mapping: Path | None = None
    filters: EhrFilterConfig = field(default_factory=EhrFilterConfig)


_STR = pl.String
SCHEMAS: dict[str, dict[str, Any]] = {
    "visits": {"patient_id": _STR, "visit_id": _STR, "time": _STR},
    "dx": {"visit_id": _STR, "seq": pl.Int64, "system": _STR, "code": _STR},
    "proc": {"visit_id": _STR, "seq": pl.Int64, "system": _STR, "code": _STR},
    "med": {"visit_id": _STR, "atc3": _STR},
}
CHUNK_ROWS = 200_000  # rows held as Python tuples before they move into a compact polars frame


@dataclass
class _Rows:
    """What the resources add up to; tuples move into polars frames every ``CHUNK_ROWS``."""

    pending: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {name: [] for name in SCHEMAS}
    )
    frames: dict[str, list[pl.DataFrame]] = field(
        default_factory=lambda: {name: [] for name in SCHEMAS}
    )
    seq: int = 0
    no_encounter: Counter[str] = field(default_factory=Counter)
    unmapped: dict[str, Counter[str]] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    # Resources left out by status: kind -> count (app.contract.fhir's rule).
    by_status: Counter[str] = field(default_factory=Counter)
    # Medication resources by id (their code), and requests waiting for one by reference.
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting: list[tuple[str, str, str, Path, int]] = field(default_factory=list)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        rows = self.pending[table]
        rows.append(row)
        if len(rows) >= CHUNK_ROWS:
            self.flush(table)

    def flush(self, table: str) -> None:
        schema = SCHEMAS[table]
        self.frames[table].append(pl.DataFrame(self.pending[table], schema=schema, orient="row"))
        self.pending[table] = []

    def frame(self, table: str) -> pl.DataFrame:
        self.flush(table)
        return pl.concat(self.frames[table])


def read_fhir(export_dir: Path, config: FhirConfig) -> ReadResult:
    """Read a FHIR Bulk Data export directory.

    Raises:
        InputFileError: naming the file, line (row) and element (column) of bad JSON, a missing
            element or a malformed code; or a missing resource type.
    """
    files = sorted(p for p in export_dir.iterdir() if p.name.endswith((".ndjson", ".ndjson.gz")))
    if not files:
        raise InputFileError(export_dir / "*.ndjson", "no NDJSON files in the export")
    maps = _drug_maps(config.atc_mapping)
    rows = _Rows()
    for path in files:
        for line, resource in _resources(path):
            _take(resource, path, line, rows, maps)
    _resolve_waiting(rows, maps)
    visits = rows.frame("visits")
    if visits.height == 0:
        raise InputFileError(
            export_dir / "Encounter.ndjson", "no Encounter resources in the export"
        )
    result = ReadResult(
        patients=[], extra={"medication_system": "atc3", "ignored": dict(rows.ignored)}
    )
    _report(rows, result)
    tables = EventTables(
        visits=visits,
        diagnoses=rows.frame("dx"),
        procedures=rows.frame("proc"),
        medications=_dedupe(rows.frame("med"), result),
    )
    return build_patients(tables, config.filters, result, export_dir)


def _drug_maps(path: Path | None) -> dict[str, AtcMap]:
    """RxNorm and NDC lookups from one mapping CSV (either key column may be absent)."""
    if path is None:
        return {RXNORM: {}, NDC: {}}
    columns = header_columns(path)
    if "rxcui" not in columns and "ndc" not in columns:
        raise InputFileError(path, "needs an 'rxcui' or an 'ndc' column", column="rxcui")
    return {
        uri: load_atc_map(path, key) if key in columns else {}
        for uri, key in ((RXNORM, "rxcui"), (NDC, "ndc"))
    }


def ingest_fhir(
    export_dir: Path, out_dir: Path, config: FhirConfig, *, overwrite: bool = False
) -> DatasetManifest:
    """Read a FHIR Bulk Data export and write it atomically as a canonical Dataset."""
    result = read_fhir(export_dir, config)
    return write_result(result, out_dir, source_format=SOURCE_FORMAT, overwrite=overwrite)


def _resources(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError:
                    raise InputFileError(path, "not valid JSON", row=line) from None
                if not isinstance(obj, dict) or "resourceType" not in obj:
                    raise InputFileError(
                        path, "not a FHIR resource", row=line, column="resourceType"
                    )
                yield line, obj
    except UnicodeDecodeError:
        raise InputFileError(path, "the file is not valid UTF-8") from None


def _take(res: dict[str, Any], path: Path, line: int, rows: _Rows, maps: dict[str, AtcMap]) -> None:
    kind = res["resourceType"]
    if kind == "Encounter":
        rows.add("visits", _encounter(res, path, line))
        return
    if kind == "Medication":
        if isinstance(res.get("id"), str):
            rows.medications[res["id"]] = res
        return
    if kind not in ("Condition", "Procedure", *MED_TYPES):
        rows.ignored[kind] += 1
        return
    rows.totals[kind] += 1
    if _dropped(kind, res):
        rows.by_status[kind] += 1
        return
    ref = res.get("context") if kind == "MedicationAdministration" else None
    visit = _reference(ref or res.get("encounter"), "Encounter")
    if visit is None:
        rows.no_encounter[kind] += 1
        return
    if kind in MED_TYPES:
        _medication(res, (path, line), visit, rows, maps)
        return
    systems = DX_SYSTEMS if kind == "Condition" else PROC_SYSTEMS
    coded = _pick(res.get("code"), systems, path, line)
    if coded is None:
        rows.unmapped.setdefault(kind, Counter())[_first_code(res.get("code"))] += 1
        return
    rows.seq += 1
    rows.add("dx" if kind == "Condition" else "proc", (visit, rows.seq, *coded))


def _encounter(res: dict[str, Any], path: Path, line: int) -> tuple[str, str, str]:
    visit_id = res.get("id")
    if not isinstance(visit_id, str) or not visit_id:
        raise InputFileError(path, "Encounter without id", row=line, column="id")
    patient = _reference(res.get("subject"), "Patient")
    if patient is None:
        raise InputFileError(
            path, "Encounter without a Patient subject", row=line, column="subject.reference"
        )
    start = (res.get("period") or {}).get("start")
    time = _time(start) if isinstance(start, str) else ""
    if not re.match(TIME_PATTERN, time):
        raise InputFileError(
            path, "Encounter without a valid start", row=line, column="period.start"
        )
    return patient, visit_id, time


_reference = fhir.reference_id


def _dropped(kind: str, res: dict[str, Any]) -> bool:
    """Whether the contract's status rule leaves ``res`` out of the dataset."""
    if kind == "Condition":
        return fhir.condition_dropped(res)
    if kind == "MedicationRequest":
        return not fhir.request_is_label(res)
    return fhir.procedure_dropped(res)  # Procedure and MedicationAdministration statuses


def _time(raw: str) -> str:
    """As :func:`~training.data.ehr_pipeline.visit_time`: zone and fractions of a second dropped."""
    return re.sub(TIME_TAIL, r"\1", raw.strip().replace(" ", "T"))


def _codings(concept: Any) -> list[dict[str, Any]]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return [c for c in codings or [] if isinstance(c, dict)]


def _first_code(concept: Any) -> str:
    codings = _codings(concept)
    return str(codings[0].get("code", "")) if codings else "(no coding)"


_ICD_RE = re.compile(ICD_PATTERN)
_SNOMED_RE = re.compile(r"^[0-9]{6,18}$")


def _pick(concept: Any, systems: dict[str, str], path: Path, line: int) -> tuple[str, str] | None:
    """The (system, code) of the best coding: ICD before SNOMED, in ``systems`` order."""
    found: dict[str, tuple[int, Any]] = {}
    for i, coding in enumerate(_codings(concept)):
        uri = coding.get("system")
        if uri in systems and uri not in found:
            found[uri] = (i, coding.get("code"))
    for uri, system in systems.items():
        if uri not in found:
            continue
        i, raw = found[uri]
        code = str(raw or "").strip().replace(".", "").upper()
        if not (_SNOMED_RE if system == "snomed" else _ICD_RE).match(code):
            column = f"code.coding[{i}].code"
            raise InputFileError(path, f"not a valid {system} code", row=line, column=column)
        return system, code
    return None


def _medication(
    res: dict[str, Any], where: tuple[Path, int], visit: str, rows: _Rows, maps: dict[str, AtcMap]
) -> None:
    kind = res["resourceType"]
    ref = fhir.reference_id(res.get("medicationReference"), "Medication")
    if "medicationCodeableConcept" not in res and ref and ref not in rows.medications:
        rows.waiting.append((kind, visit, ref, *where))  # its Medication may come later
        return
    concept = fhir.medication_concept(res, rows.medications)
    _add_medication(kind, visit, concept, "medicationReference" in res, where, rows, maps)


def _add_medication(
    kind: str,
    visit: str,
    concept: dict[str, Any] | None,
    is_reference: bool,
    where: tuple[Path, int],
    rows: _Rows,
    maps: dict[str, AtcMap],
) -> None:
    classes = _atc_classes(_codings(concept), maps, *where)
    if classes:
        for c in classes:
            rows.add("med", (visit, c))
        return
    shown = "(medicationReference)" if is_reference and concept is None else _first_code(concept)
    rows.unmapped.setdefault(kind, Counter())[shown] += 1


def _resolve_waiting(rows: _Rows, maps: dict[str, AtcMap]) -> None:
    """Requests whose ``medicationReference`` named a Medication read after them."""
    for kind, visit, ref, path, line in rows.waiting:
        medication = rows.medications.get(ref)
        code = medication.get("code") if medication else None
        concept = code if isinstance(code, dict) else None
        _add_medication(kind, visit, concept, True, (path, line), rows, maps)


def _atc_classes(
    codings: list[dict[str, Any]], maps: dict[str, AtcMap], path: Path, line: int
) -> tuple[str, ...]:
    """ATC3 classes of a medication: its ATC coding, else its RxNorm or NDC coding mapped."""
    for i, coding in enumerate(codings):
        if coding.get("system") == ATC:
            try:
                return (atc3(str(coding.get("code") or "")),)
            except ValueError:
                column = f"medicationCodeableConcept.coding[{i}].code"
                raise InputFileError(
                    path, "not a valid ATC code", row=line, column=column
                ) from None
    for uri in (RXNORM, NDC):
        for coding in codings:
            code = str(coding.get("code") or "").strip()
            if coding.get("system") == uri and code in maps[uri]:
                return maps[uri][code]
    return ()


def _report(rows: _Rows, result: ReadResult) -> None:
    for kind, total in sorted(rows.totals.items()):
        left_out = rows.by_status.get(kind, 0)
        result.filters.append(FilterEffect(f"{kind}.status", {}, total, total - left_out))
        total -= left_out
        missing = rows.no_encounter.get(kind, 0)
        result.filters.append(FilterEffect(f"{kind}.with_encounter", {}, total, total - missing))
        action = "dropped (no ATC)" if kind in MED_TYPES else "dropped (no known code system)"
        codes = rows.unmapped.get(kind, Counter())
        count_unmapped(result, kind, codes, total - missing, action=action)


def _dedupe(med: pl.DataFrame, result: ReadResult) -> pl.DataFrame:
    deduped = med.unique(["visit_id", "atc3"])
    result.filters.append(
        FilterEffect("medications.dedupe_per_visit", {}, med.height, deduped.height)
    )
    return deduped
