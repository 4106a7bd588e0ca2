"""MIMIC-III export reader: the GAMENet/SafeDrug preprocessing, one named filter per step.

We use polars rather than pandas: it parses CSVs on all cores, reads every column as a strict
string (NDCs and ICD codes keep their leading zeros without per-column dtype maps) and can run
lazily, so a full hospital export stays fast.

Steps, each recorded as a ``FilterEffect`` (rows and patients before and after):

1. prescriptions: drop NDC ``0``/empty; optionally keep the first day only; map NDC → ATC3 and
   drop (and report) unmapped NDCs; de-duplicate per visit.
2. diagnoses: drop empty codes, de-duplicate per visit, keep the N most frequent codes.
3. procedures: drop empty codes, de-duplicate per visit.
4. visits: keep admissions present in ADMISSIONS and in all three code tables.
5. patients: keep patients with at least ``min_visits`` visits.

Unlike the reference code, visits are ordered by ``ADMITTIME`` (HADM_ID is not chronological).

Example::

    medrec ingest --format mimic3 --input export/ --out var/mimic3 --atc-map ndc2atc.csv
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from app.contract.errors import InputFileError
from training.data.csvio import first_bad_row, normalized_codes, read_strict_csv, require_integers
from training.data.dataset import DatasetManifest, FilterEffect, write_dataset
from training.data.mimic3_mapping import load_ndc_to_atc3
from training.data.mimic3_visits import assemble_patients
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
    """

    atc_mapping: Path | None = None
    ndc2rxcui: Path | None = None
    multi_atc: Literal["all", "first"] = "all"
    first_24h: bool = False
    top_diagnoses: int | None = 2000
    min_visits: int = 2

    def __post_init__(self) -> None:
        if self.min_visits < 1:
            raise ValueError("Mimic3Config: min_visits must be >= 1")
        if self.top_diagnoses is not None and self.top_diagnoses < 1:
            raise ValueError("Mimic3Config: top_diagnoses must be >= 1 or None")


@dataclass
class Mimic3Result:
    """Patients read from an export, with every filter's effect and the notes for the report."""

    patients: list[Patient]
    filters: list[FilterEffect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


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


def _table(export_dir: Path, name: str, columns: list[str], ints: list[str]) -> pl.DataFrame:
    path = export_dir / name
    return require_integers(read_strict_csv(path, columns), path, ints)


def _codes(export_dir: Path, name: str, kind: str, result: Mimic3Result) -> pl.DataFrame:
    path = export_dir / name
    frame = _table(export_dir, name, [*KEYS, "SEQ_NUM", "ICD9_CODE"], KEYS)
    frame = normalized_codes(frame, path, "ICD9_CODE")
    kept = frame.filter(pl.col("ICD9_CODE").is_not_null())
    result.filters.append(_effect(f"{kind}.drop_missing_codes", {}, frame, kept))
    deduped = kept.unique([*KEYS, "ICD9_CODE"], keep="first", maintain_order=True)
    result.filters.append(_effect(f"{kind}.dedupe_per_visit", {}, kept, deduped))
    return deduped.with_columns(pl.col("SEQ_NUM").cast(pl.Int64, strict=False))


def _top_diagnoses(diag: pl.DataFrame, n: int | None, result: Mimic3Result) -> pl.DataFrame:
    if n is None:
        return diag
    counts = diag.group_by("ICD9_CODE").len().sort(["len", "ICD9_CODE"], descending=[True, False])
    kept = diag.join(counts.head(n).select("ICD9_CODE"), on="ICD9_CODE", how="semi")
    result.filters.append(_effect("diagnoses.top_n", {"n": n}, diag, kept))
    result.extra["distinct_diagnoses_before_top_n"] = counts.height
    return kept


def _parse_time(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    full = [text.str.strptime(pl.Datetime, fmt, strict=False) for fmt in _TIMES]
    # Two-digit years all go to 2000-2099 (strptime sends 69-99 to the 1900s), so that a
    # patient's admissions keep their order unless they straddle '99 and '00.
    short = text.str.strptime(pl.Datetime, _SHORT_TIME, strict=False)
    short = pl.when(short.dt.year() < 2000).then(short.dt.offset_by("100y")).otherwise(short)
    return pl.coalesce([*full, short])


def _admissions(export_dir: Path, result: Mimic3Result) -> pl.DataFrame:
    path = export_dir / "ADMISSIONS.csv"
    adm = _table(export_dir, "ADMISSIONS.csv", [*KEYS, "ADMITTIME"], KEYS)
    row = first_bad_row(adm, _parse_time("ADMITTIME").is_null())
    if row is not None:
        raise InputFileError(
            path, "expected a time like 2101-10-20 19:08:00", row=row, column="ADMITTIME"
        )
    if adm["ADMITTIME"].str.contains(r"^\s*\d{1,2}/\d{1,2}/\d{2}\b").any():
        result.notes.append(
            "ADMISSIONS.csv: ADMITTIME has two-digit years (a spreadsheet re-save), read as "
            "2000-2099; visits straddling '99 and '00 would be out of order"
        )
    return adm.with_columns(_parse_time("ADMITTIME").alias("ADMITTIME")).unique(KEYS, keep="first")


def _prescriptions(export_dir: Path, config: Mimic3Config, result: Mimic3Result) -> pl.DataFrame:
    path = export_dir / "PRESCRIPTIONS.csv"
    timing = ["ICUSTAY_ID", "STARTDATE"] if config.first_24h else []  # read only what is used
    rx = _table(export_dir, "PRESCRIPTIONS.csv", [*KEYS, *timing, "NDC"], KEYS)
    rx = rx.with_columns(pl.col("NDC").str.strip_chars())
    real = rx.filter(pl.col("NDC").is_not_null() & (pl.col("NDC") != "") & (pl.col("NDC") != "0"))
    result.filters.append(
        _effect("prescriptions.drop_placeholder_ndc", {"placeholders": ["0", ""]}, rx, real)
    )
    row = first_bad_row(real, ~pl.col("NDC").str.contains(r"^[0-9]{1,11}$"))
    if row is not None:
        raise InputFileError(path, "an NDC has digits only", row=row, column="NDC")
    if config.first_24h:
        real = _first_day(real, path, result)
    mapped = _map_ndc(real, export_dir, config, result)
    deduped = mapped.unique([*KEYS, "atc3"], maintain_order=True)
    result.filters.append(_effect("prescriptions.dedupe_per_visit", _DEDUPE_RX, mapped, deduped))
    return deduped


def _first_day(rx: pl.DataFrame, path: Path, result: Mimic3Result) -> pl.DataFrame:
    """GAMENet's ``filter_first24hour_med``: rows on each ICU stay's earliest STARTDATE."""
    rx = rx.with_columns(_parse_time("STARTDATE").alias("_start"))
    bad = rx.filter(pl.col("_start").is_null() & pl.col("STARTDATE").is_not_null())
    if bad.height:
        raise InputFileError(
            path,
            "expected a time like 2101-10-20 00:00:00",
            row=int(bad["_row"][0]),
            column="STARTDATE",
        )
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
    result: Mimic3Result,
) -> pl.DataFrame:
    atc_path, rxcui_path = _mapping_paths(export_dir, config)
    mapping = load_ndc_to_atc3(atc_path, rxcui_path, multi_atc=config.multi_atc)
    known = rx.join(mapping.select("ndc").unique(), left_on="NDC", right_on="ndc", how="semi")
    unmapped = rx.join(known.select("_row"), on="_row", how="anti")
    n_ndcs = unmapped["NDC"].n_unique()
    if unmapped.height:
        note = (
            f"{unmapped.height} of {rx.height} prescription rows ({n_ndcs} distinct NDCs) "
            "have no ATC in the mapping and were dropped"
        )
        logger.warning(note)
        result.notes.append(note)
    params = {
        "atc_mapping": atc_path.name,
        "ndc2rxcui": rxcui_path.name if rxcui_path else None,
        "multi_atc": config.multi_atc,
    }
    result.filters.append(_effect("prescriptions.map_ndc_to_atc3", params, rx, known))
    result.extra.update(
        unmapped_ndcs=n_ndcs,
        unmapped_ndc_rows=unmapped.height,
        mapped_row_fraction=round(known.height / max(rx.height, 1), 4),
    )
    return known.join(mapping, left_on="NDC", right_on="ndc")


def _visits(tables: dict[str, pl.DataFrame], result: Mimic3Result) -> pl.DataFrame:
    every = pl.concat([t.select(KEYS) for t in tables.values()]).unique()
    kept = tables["admissions"].select(KEYS)
    for name in ("diagnoses", "procedures", "prescriptions"):
        kept = kept.join(tables[name].select(KEYS).unique(), on=KEYS, how="semi")
    result.filters.append(_effect("visits.in_all_tables", {"tables": list(tables)}, every, kept))
    return kept


def _patients(visits: pl.DataFrame, min_visits: int, result: Mimic3Result) -> pl.DataFrame:
    kept = visits.filter(pl.len().over("SUBJECT_ID") >= min_visits)
    result.filters.append(_effect("patients.min_visits", {"min_visits": min_visits}, visits, kept))
    return kept


def read_mimic3(export_dir: Path, config: Mimic3Config) -> Mimic3Result:
    """Read and preprocess a MIMIC-III-layout export.

    Raises:
        InputFileError: naming file, row and column, for any malformed input.
    """
    export_dir = Path(export_dir)
    result = Mimic3Result(patients=[])
    meds = _prescriptions(export_dir, config, result)
    diag = _codes(export_dir, "DIAGNOSES_ICD.csv", "diagnoses", result)
    tables = {
        "admissions": _admissions(export_dir, result),
        "diagnoses": _top_diagnoses(diag, config.top_diagnoses, result),
        "procedures": _codes(export_dir, "PROCEDURES_ICD.csv", "procedures", result),
        "prescriptions": meds,
    }
    visits = _patients(_visits(tables, result), config.min_visits, result)
    result.patients = assemble_patients(visits, tables)
    result.extra["config"] = {
        k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()
    }
    if (export_dir / SYNTHETIC_MARKER).is_file():
        result.extra["synthetic"] = True
        result.notes.append(f"synthetic export ({SYNTHETIC_MARKER} present): not patient data")
    return result


def ingest_mimic3(
    export_dir: Path, out_dir: Path, config: Mimic3Config, *, overwrite: bool = False
) -> DatasetManifest:
    """Read ``export_dir`` and write the Dataset atomically to ``out_dir``."""
    result = read_mimic3(export_dir, config)
    return write_dataset(
        result.patients,
        out_dir,
        source_format="mimic3",
        filters=result.filters,
        notes=result.notes,
        extra=result.extra,
        overwrite=overwrite,
    )
