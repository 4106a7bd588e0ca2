"""MIMIC-III export reader: the GAMENet/SafeDrug preprocessing, one named filter per step.

The tables are read with :mod:`training.data.ehr_io` (every column a strict string, so NDCs and ICD
codes keep their leading zeros; ``.csv``, ``.csv.gz`` or Parquet) and the visits are filtered and
assembled by :mod:`training.data.ehr_pipeline`, as for every other export format. Steps, each
recorded as a ``FilterEffect`` (rows and patients before and after):

1. prescriptions: drop NDC ``0``/empty; optionally keep the first day only; map NDC → ATC3 and
   drop (and report) unmapped NDCs; de-duplicate per visit.
2. diagnoses and procedures: drop empty codes, de-duplicate per visit.
3. the shared filters: events of known admissions; the N most frequent diagnosis codes; visits in
   all three code tables; patients with at least ``min_visits`` visits.

Unlike the reference code, visits are ordered by ``ADMITTIME`` (HADM_ID is not chronological).

Example::

    medrec ingest --format mimic3 --input export/ --out var/mimic3 --atc-map ndc2atc.csv
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from app.contract.codes import CodeSystem
from app.contract.errors import InputFileError
from training.data.dataset import (
    DatasetManifest,
    FilterEffect,
    ReadResult,
    SpilledPatients,
    write_result,
)
from training.data.ehr_io import (
    ICD_PATTERN,
    ROW,
    check_pattern,
    fail_first,
    find_table,
    normalized_code,
    read_table,
    require_table,
)
from training.data.ehr_maps import load_ndc_to_atc3
from training.data.ehr_pipeline import (
    EhrFilterConfig,
    EventTables,
    build_patients,
    code_counts,
    filter_notes,
    merge_effects,
    no_patient_error,
    top_of,
)
from training.data.records import Patient
from training.data.synth.export import SYNTHETIC_MARKER

logger = logging.getLogger(__name__)
KEYS = ["SUBJECT_ID", "HADM_ID"]
_TIME = "%Y-%m-%d %H:%M:%S"
# MIMIC writes _TIME; a spreadsheet re-save (the demo's ADMISSIONS.csv) writes 10/23/64 21:09.
_TIMES = (_TIME, "%Y-%m-%d %H:%M", "%Y-%m-%d")
_SHORT_TIME = "%m/%d/%y %H:%M"
# An NDC with several ATC classes yields one row per class, so this step starts above the last.
_DEDUPE_RX = {"rows": "(prescription, ATC3) in, (visit, ATC3) out"}


@dataclass(frozen=True)
class Mimic3Config:
    """Options of the MIMIC-III reader.

    Args:
        atc_mapping: CSV with ``atc4`` and ``ndc`` or ``rxcui`` (default: export's ndc2atc.csv).
        ndc2rxcui: CSV ``ndc,rxcui``; default ``ndc2rxcui.csv`` in the export, if present.
        multi_atc: ``all`` ATC4 codes of an NDC, or only the ``first`` (GAMENet keeps one).
        first_24h: keep only each ICU stay's first prescription day (the GAMENet paper data).
        top_diagnoses: keep the N most frequent diagnosis codes (``None``: all).
        min_visits: keep patients with at least this many visits (G-BERT pre-training wants 1).
        require_all_tables: keep only visits with a diagnosis, a procedure and a medication.
        chunk_patients: an export with more patients (in ADMISSIONS) is read in passes of this
            many, by SUBJECT_ID range, each pass's patients spilled to disk, so memory holds one
            pass; the dataset and its report are those of a single pass.
    """

    atc_mapping: Path | None = None
    ndc2rxcui: Path | None = None
    multi_atc: Literal["all", "first"] = "all"
    first_24h: bool = False
    top_diagnoses: int | None = 2000
    min_visits: int = 2
    require_all_tables: bool = True
    chunk_patients: int = 100_000  # ~1.3 GiB peak per pass on the synthetic cohort

    def __post_init__(self) -> None:
        _ = self.filters  # EhrFilterConfig refuses bad values, naming them
        if self.chunk_patients < 1:
            raise ValueError("Mimic3Config: chunk_patients must be >= 1")

    @property
    def filters(self) -> EhrFilterConfig:
        """The shared filters these options select."""
        return EhrFilterConfig(self.top_diagnoses, self.min_visits, self.require_all_tables)


def _effect(
    name: str,
    params: dict[str, Any],
    before: pl.DataFrame,
    after: pl.DataFrame,
) -> FilterEffect:
    return FilterEffect(
        name,
        params,
        before.height,
        after.height,
        before["SUBJECT_ID"].n_unique(),
        after["SUBJECT_ID"].n_unique(),
    )


def _table(
    export_dir: Path, name: str, columns: list[str], where: pl.Expr | None
) -> tuple[Path, pl.DataFrame]:
    """Read a table (the rows ``where`` holds); ids must be integers, kept as decimal strings."""
    path = require_table(export_dir, name)
    frame = read_table(path, columns, where=where)
    for column in KEYS:
        cast = pl.col(column).str.strip_chars().cast(pl.Int64, strict=False)
        fail_first(frame, cast.is_null(), path, column, "expected an integer id")
        frame = frame.with_columns(cast.cast(pl.String).alias(column))
    return path, frame


def _codes(
    export_dir: Path, name: str, kind: str, result: ReadResult, where: pl.Expr | None
) -> pl.DataFrame:
    path, frame = _table(export_dir, name, [*KEYS, "SEQ_NUM", "ICD9_CODE"], where)
    norm = normalized_code("ICD9_CODE")
    frame = frame.with_columns(pl.when(norm == "").then(None).otherwise(norm).alias("ICD9_CODE"))
    check_pattern(frame, path, "ICD9_CODE", ICD_PATTERN, "ICD-9 code")
    kept = frame.filter(pl.col("ICD9_CODE").is_not_null())
    result.filters.append(_effect(f"{kind}.drop_missing_codes", {}, frame, kept))
    deduped = kept.unique([*KEYS, "ICD9_CODE"], keep="first", maintain_order=True)
    result.filters.append(_effect(f"{kind}.dedupe_per_visit", {}, kept, deduped))
    return deduped.with_columns(pl.col("SEQ_NUM").cast(pl.Int64, strict=False))


def _events(codes: pl.DataFrame, system: CodeSystem) -> pl.DataFrame:
    """Codes as pipeline events; ``seq`` orders them by SEQ_NUM (missing last), then file row."""
    ordered = codes.sort(["SEQ_NUM", ROW], nulls_last=True).with_row_index("seq")
    return ordered.select(
        pl.col("HADM_ID").alias("visit_id"),
        pl.col("seq").cast(pl.Int64),
        pl.lit(system.value).alias("system"),
        pl.col("ICD9_CODE").alias("code"),
    )


def _parse_time(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    full = [text.str.strptime(pl.Datetime, fmt, strict=False) for fmt in _TIMES]
    # Two-digit years all go to 2000-2099 (strptime sends 69-99 to the 1900s), so that a
    # patient's admissions keep their order unless they straddle '99 and '00.
    short = text.str.strptime(pl.Datetime, _SHORT_TIME, strict=False)
    short = pl.when(short.dt.year() < 2000).then(short.dt.offset_by("100y")).otherwise(short)
    return pl.coalesce([*full, short])


def _admissions(export_dir: Path, result: ReadResult, where: pl.Expr | None) -> pl.DataFrame:
    path, adm = _table(export_dir, "ADMISSIONS", [*KEYS, "ADMITTIME"], where)
    message = "expected a time like 2101-10-20 19:08:00"
    fail_first(adm, _parse_time("ADMITTIME").is_null(), path, "ADMITTIME", message)
    if adm["ADMITTIME"].str.contains(r"^\s*\d{1,2}/\d{1,2}/\d{2}\b").any():
        result.notes.append(
            "ADMISSIONS.csv: ADMITTIME has two-digit years (a spreadsheet re-save), read as "
            "2000-2099; visits straddling '99 and '00 would be out of order"
        )
    return adm.unique(KEYS, keep="first").select(
        pl.col("SUBJECT_ID").alias("patient_id"),
        pl.col("HADM_ID").alias("visit_id"),
        _parse_time("ADMITTIME").dt.strftime("%Y-%m-%dT%H:%M:%S").alias("time"),
    )


def _prescriptions(
    export_dir: Path, config: Mimic3Config, result: ReadResult, where: pl.Expr | None
) -> tuple[pl.DataFrame, set[str]]:
    """The (visit, ATC3) pairs, and the distinct NDCs the mapping lacks."""
    timing = ["ICUSTAY_ID", "STARTDATE"] if config.first_24h else []  # read only what is used
    path, rx = _table(export_dir, "PRESCRIPTIONS", [*KEYS, *timing, "NDC"], where)
    rx = rx.with_columns(pl.col("NDC").str.strip_chars())
    real = rx.filter(pl.col("NDC").is_not_null() & (pl.col("NDC") != "") & (pl.col("NDC") != "0"))
    result.filters.append(
        _effect("prescriptions.drop_placeholder_ndc", {"placeholders": ["0", ""]}, rx, real)
    )
    fail_first(
        real, ~pl.col("NDC").str.contains(r"^[0-9]{1,11}$"), path, "NDC", "an NDC has digits only"
    )
    if config.first_24h:
        real = _first_day(real, path, result)
    mapped, unmapped = _map_ndc(real, export_dir, config, result)
    deduped = mapped.unique([*KEYS, "atc3"], maintain_order=True)
    result.filters.append(_effect("prescriptions.dedupe_per_visit", _DEDUPE_RX, mapped, deduped))
    return deduped.select(pl.col("HADM_ID").alias("visit_id"), "atc3"), unmapped


def _first_day(rx: pl.DataFrame, path: Path, result: ReadResult) -> pl.DataFrame:
    """GAMENet's ``filter_first24hour_med``: rows on each ICU stay's earliest STARTDATE."""
    rx = rx.with_columns(_parse_time("STARTDATE").alias("_start"))
    bad = pl.col("_start").is_null() & pl.col("STARTDATE").is_not_null()
    fail_first(rx, bad, path, "STARTDATE", "expected a time like 2101-10-20 00:00:00")
    first = pl.col("_start").min().over([*KEYS, "ICUSTAY_ID"])
    kept = rx.filter(pl.col("_start") == first).drop("_start")
    params = {"rule": "earliest STARTDATE per admission and ICU stay (GAMENet)"}
    result.filters.append(_effect("prescriptions.first_24h", params, rx, kept))
    return kept


def _mapping_paths(export_dir: Path, config: Mimic3Config) -> tuple[Path, Path | None]:
    atc = config.atc_mapping or export_dir / "ndc2atc.csv"
    if not atc.is_file():
        raise InputFileError(atc, "NDC → ATC mapping not found (pass --atc-map)")
    rxcui = config.ndc2rxcui or export_dir / "ndc2rxcui.csv"
    return atc, rxcui if rxcui.is_file() else None


def _map_ndc(
    rx: pl.DataFrame,
    export_dir: Path,
    config: Mimic3Config,
    result: ReadResult,
) -> tuple[pl.DataFrame, set[str]]:
    atc_path, rxcui_path = _mapping_paths(export_dir, config)
    mapping = load_ndc_to_atc3(atc_path, rxcui_path, multi_atc=config.multi_atc)
    known = rx.join(mapping.select("ndc").unique(), left_on="NDC", right_on="ndc", how="semi")
    unmapped = rx.join(known.select(ROW), on=ROW, how="anti")
    params = {
        "atc_mapping": atc_path.name,
        "ndc2rxcui": rxcui_path.name if rxcui_path else None,
        "multi_atc": config.multi_atc,
    }
    result.filters.append(_effect("prescriptions.map_ndc_to_atc3", params, rx, known))
    return known.join(mapping, left_on="NDC", right_on="ndc"), set(unmapped["NDC"].unique())


def read_mimic3(export_dir: Path, config: Mimic3Config) -> ReadResult:
    """Read and preprocess a MIMIC-III-layout export.

    An export with more than ``config.chunk_patients`` patients is read in passes of that many
    (each table scanned lazily for the pass's SUBJECT_ID range; the most frequent diagnoses
    counted over all passes first), so that memory holds one pass.

    Raises:
        InputFileError: naming file, row and column, for any malformed input, or naming the
            filter that left no patient.
    """
    export_dir = Path(export_dir)
    ranges = _subject_ranges(export_dir, config.chunk_patients)
    if ranges is None:
        result, facts = _read_pass(export_dir, config, None, None)
        return _finish(export_dir, config, [result], facts, result.patients)
    wheres = [_in_range(lo, hi) for lo, hi in ranges]
    top = None
    if config.top_diagnoses is not None:
        counts = pl.concat([_diagnosis_counts(export_dir, where) for where in wheres])
        top = top_of(
            counts.group_by("system", "code").agg(pl.col("len").sum()), config.top_diagnoses
        )
    patients, passes, facts = SpilledPatients(), [], _Facts(set(), set())
    for i, where in enumerate(wheres):
        result, found = _read_pass(export_dir, config, where, top)
        logger.info("pass %d/%d: %d patients", i + 1, len(wheres), len(result.patients))
        patients.extend(result.patients)
        result.patients = []
        passes.append(result)
        facts.unmapped_ndcs.update(found.unmapped_ndcs)
        facts.diagnoses.update(found.diagnoses)
    if not len(patients):
        raise no_patient_error(export_dir, merge_effects([r.filters for r in passes]))
    return _finish(export_dir, config, passes, facts, patients)


@dataclass
class _Facts:
    """What a pass saw that counts over all passes: distinct unmapped NDCs and diagnoses."""

    unmapped_ndcs: set[str]
    diagnoses: set[str]


def _read_pass(
    export_dir: Path, config: Mimic3Config, where: pl.Expr | None, top: pl.DataFrame | None
) -> tuple[ReadResult, _Facts]:
    """Read the rows ``where`` holds (all: ``None``) through the filters.

    ``top``: see :func:`~training.data.ehr_pipeline.build_patients`.
    """
    result = ReadResult(patients=[])
    meds, unmapped = _prescriptions(export_dir, config, result, where)
    diag = _codes(export_dir, "DIAGNOSES_ICD", "diagnoses", result, where)
    visits = _admissions(export_dir, result, where)
    proc = _codes(export_dir, "PROCEDURES_ICD", "procedures", result, where)
    facts = _Facts(unmapped, set(diag["ICD9_CODE"].unique()))
    dx, pr = _events(diag, CodeSystem.ICD9CM), _events(proc, CodeSystem.ICD9PROC)
    tables = EventTables(visits, dx, pr, meds)
    single = where is None
    build_patients(
        tables, config.filters, result, export_dir, top_codes=top, require_patients=single
    )
    return result, facts


def _finish(
    export_dir: Path,
    config: Mimic3Config,
    passes: list[ReadResult],
    facts: _Facts,
    patients: list[Patient] | SpilledPatients,
) -> ReadResult:
    """One report for all passes: summed filter effects, notes and reader facts."""
    filters = merge_effects([r.filters for r in passes])
    derived = [set(filter_notes(r.filters)) for r in passes]
    notes = list(
        dict.fromkeys(
            n for r, d in zip(passes, derived, strict=True) for n in r.notes if n not in d
        )
    )
    result = ReadResult(patients=patients, filters=filters)
    mapping = next(f for f in filters if f.name == "prescriptions.map_ndc_to_atc3")
    unmapped_rows = mapping.rows_before - mapping.rows_after
    if unmapped_rows:
        note = (
            f"{unmapped_rows} of {mapping.rows_before} prescription rows "
            f"({len(facts.unmapped_ndcs)} distinct NDCs) have no ATC in the mapping and were "
            "dropped"
        )
        logger.warning(note)
        notes.insert(0, note)
    result.extra.update(
        unmapped_ndcs=len(facts.unmapped_ndcs),
        unmapped_ndc_rows=unmapped_rows,
        mapped_row_fraction=round(mapping.rows_after / max(mapping.rows_before, 1), 4),
    )
    if config.top_diagnoses is not None:
        result.extra["distinct_diagnoses_before_top_n"] = len(facts.diagnoses)
    result.extra["config"] = {
        k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()
    }
    if (export_dir / SYNTHETIC_MARKER).is_file():
        result.extra["synthetic"] = True
        notes.append(f"synthetic export ({SYNTHETIC_MARKER} present): not patient data")
    result.notes = notes + filter_notes(filters)
    return result


def _subject_ranges(export_dir: Path, chunk: int) -> list[tuple[int | None, int | None]] | None:
    """SUBJECT_ID ranges of ``chunk`` patients of ADMISSIONS each; ``None``: one pass will do.

    A table that cannot be read here is read (and its fault reported) by the single pass.
    """
    path = find_table(export_dir, "ADMISSIONS")
    if path is None:
        return None
    try:
        ids = read_table(path, ["SUBJECT_ID"], where=pl.lit(True))["SUBJECT_ID"]
    except InputFileError:
        return None
    ids = ids.str.strip_chars().cast(pl.Int64, strict=False).drop_nulls().unique().sort()
    if ids.len() <= chunk:
        return None
    starts: list[int | None] = [None, *ids.gather_every(chunk)[1:].to_list(), None]
    return list(itertools.pairwise(starts))


def _in_range(lo: int | None, hi: int | None) -> pl.Expr:
    """Rows of SUBJECT_ID in ``[lo, hi)``.

    The first range also takes the ids that are no integer, so that its pass reports them.
    """
    sid = pl.col("SUBJECT_ID").str.strip_chars().cast(pl.Int64, strict=False)
    inside = pl.lit(True)
    if lo is not None:
        inside = inside & (sid >= lo)
    if hi is not None:
        inside = inside & (sid < hi)
    return inside | sid.is_null() if lo is None else inside


def _diagnosis_counts(export_dir: Path, where: pl.Expr) -> pl.DataFrame:
    """Rows per diagnosis code of the pass's known visits, as ``diagnoses.top_n`` counts them."""
    scratch = ReadResult(patients=[])
    diag = _codes(export_dir, "DIAGNOSES_ICD", "diagnoses", scratch, where)
    visits = _admissions(export_dir, scratch, where)
    return code_counts(visits, _events(diag, CodeSystem.ICD9CM))


def ingest_mimic3(
    export_dir: Path, out_dir: Path, config: Mimic3Config, *, overwrite: bool = False
) -> DatasetManifest:
    """Read ``export_dir`` and write the Dataset atomically to ``out_dir``."""
    return write_result(
        read_mimic3(export_dir, config), out_dir, source_format="mimic3", overwrite=overwrite
    )
