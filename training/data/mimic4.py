"""MIMIC-IV export reader (``hosp/`` module, CSV or ``.csv.gz``, lower-case headers).

Tables: ``admissions`` (visit times), ``diagnoses_icd`` and ``procedures_icd`` (ICD-9 and ICD-10
mixed, told apart by ``icd_version``; each code keeps its own system, so a model sees ``icd9cm`` and
``icd10cm`` codes side by side and serving accepts both), and ``prescriptions`` (``ndc``,
``starttime``), mapped NDC → ATC3 through user mapping CSVs with the MIMIC-III reader's loader
(:func:`~training.data.ehr_maps.load_ndc_to_atc3`), so both map NDCs alike.

Example::

    result = read_mimic4(Path("mimic-iv-2.2"), Mimic4Config(atc_mapping=Path("ndc2atc.csv")))
    write_result(result, Path("var/datasets/mimic4"), source_format="mimic4")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from app.contract.codes import CodeSystem
from app.contract.errors import InputFileError
from training.data.dataset import DatasetManifest, FilterEffect, ReadResult, write_result
from training.data.ehr_io import (
    ICD_PATTERN,
    ROW,
    check_pattern,
    fail_first,
    normalized_code,
    read_table,
    require_table,
    require_values,
)
from training.data.ehr_maps import load_ndc_to_atc3
from training.data.ehr_pipeline import (
    TIME_PATTERN,
    EhrFilterConfig,
    EventTables,
    build_patients,
    count_unmapped,
    visit_time,
)

SOURCE_FORMAT = "mimic4"
_SYSTEMS = {
    "diagnoses_icd": (CodeSystem.ICD9CM, CodeSystem.ICD10CM),
    "procedures_icd": (CodeSystem.ICD9PROC, CodeSystem.ICD10PCS),
}


@dataclass(frozen=True)
class Mimic4Config:
    """How to read a MIMIC-IV export.

    Args:
        atc_mapping: CSV with ``atc4`` and ``ndc`` or ``rxcui`` (as the MIMIC-III reader's).
        ndc2rxcui: CSV ``ndc,rxcui``, for the NDC → RxCUI → ATC route.
        multi_atc: ``all`` ATC4 codes of an NDC, or only the ``first`` (GAMENet keeps one).
        first_24h: keep only prescriptions starting within 24 hours of admission (GAMENet paper).
        filters: the shared MIMIC-III filters.
    """

    atc_mapping: Path | None = None
    ndc2rxcui: Path | None = None
    multi_atc: Literal["all", "first"] = "all"
    first_24h: bool = False
    filters: EhrFilterConfig = field(default_factory=EhrFilterConfig)


def read_mimic4(export_dir: Path, config: Mimic4Config) -> ReadResult:
    """Read a MIMIC-IV export (the directory holding ``hosp/``, or ``hosp/`` itself).

    Raises:
        InputFileError: naming the file, row and column of a missing table or column, an empty
            file, a bad code or version, or no NDC mapping given.
    """
    hosp = export_dir / "hosp" if (export_dir / "hosp").is_dir() else export_dir
    if config.atc_mapping is None:
        raise InputFileError(export_dir, "MIMIC-IV needs an NDC → ATC mapping (atc_mapping)")
    result = ReadResult(patients=[], extra={"code_systems": {}, "medication_system": "atc3"})
    visits = _admissions(require_table(hosp, "admissions"))
    dx = _icd_events(require_table(hosp, "diagnoses_icd"), "diagnoses_icd", result)
    proc = _icd_events(require_table(hosp, "procedures_icd"), "procedures_icd", result)
    mapping = load_ndc_to_atc3(config.atc_mapping, config.ndc2rxcui, multi_atc=config.multi_atc)
    med = _prescriptions(require_table(hosp, "prescriptions"), visits, mapping, config, result)
    tables = EventTables(visits, dx, proc, med)
    return build_patients(tables, config.filters, result, export_dir)


def ingest_mimic4(
    export_dir: Path, out_dir: Path, config: Mimic4Config, *, overwrite: bool = False
) -> DatasetManifest:
    """Read a MIMIC-IV export and write it atomically as a canonical Dataset."""
    result = read_mimic4(export_dir, config)
    return write_result(result, out_dir, source_format=SOURCE_FORMAT, overwrite=overwrite)


def _admissions(path: Path) -> pl.DataFrame:
    frame = read_table(path, ["subject_id", "hadm_id", "admittime"])
    require_values(frame, path, ["subject_id", "hadm_id", "admittime"])
    frame = frame.with_columns(visit_time("admittime").alias("time"))
    fail_first(
        frame,
        ~pl.col("time").str.contains(TIME_PATTERN),
        path,
        "admittime",
        "not a valid timestamp",
    )
    return frame.select(
        pl.col("subject_id").str.strip_chars().alias("patient_id"),
        pl.col("hadm_id").str.strip_chars().alias("visit_id"),
        "time",
    )


def _icd_events(path: Path, table: str, result: ReadResult) -> pl.DataFrame:
    frame = read_table(path, ["hadm_id", "icd_code", "icd_version"], ["seq_num"])
    require_values(frame, path, ["hadm_id", "icd_code", "icd_version"])
    version = pl.col("icd_version").str.strip_chars()
    fail_first(frame, ~version.is_in(["9", "10"]), path, "icd_version", "must be 9 or 10")
    frame = frame.with_columns(normalized_code("icd_code").alias("code"))
    check_pattern(frame, path, "code", ICD_PATTERN, "ICD code", shown="icd_code")
    seq = pl.col("seq_num").str.strip_chars().cast(pl.Int64, strict=False)
    fail_first(
        frame, pl.col("seq_num").is_not_null() & seq.is_null(), path, "seq_num", "not an integer"
    )
    nine, ten = _SYSTEMS[table]
    events = frame.select(
        pl.col("hadm_id").str.strip_chars().alias("visit_id"),
        pl.coalesce(seq, pl.col(ROW).cast(pl.Int64)).alias("seq"),
        pl.when(version == "9")
        .then(pl.lit(nine.value))
        .otherwise(pl.lit(ten.value))
        .alias("system"),
        "code",
    )
    mix = events.group_by("system").len().sort("system")
    result.extra["code_systems"][table] = dict(zip(mix["system"], mix["len"], strict=True))
    return events


def _prescriptions(
    path: Path,
    visits: pl.DataFrame,
    mapping: pl.DataFrame,
    config: Mimic4Config,
    result: ReadResult,
) -> pl.DataFrame:
    frame = read_table(path, ["hadm_id", "ndc"], ["starttime"])
    require_values(frame, path, ["hadm_id"])
    frame = frame.with_columns(
        pl.col("hadm_id").str.strip_chars().alias("visit_id"), pl.col("ndc").str.strip_chars()
    )
    kept = frame.filter(pl.col("ndc").is_not_null() & ~pl.col("ndc").is_in(["", "0"]))
    result.filters.append(
        FilterEffect("prescriptions.drop_placeholder_ndc", {}, frame.height, kept.height)
    )
    check_pattern(kept, path, "ndc", r"^[0-9]{1,11}$", "NDC (digits only)")
    if config.first_24h:
        kept = _first_24h(kept, visits, path, result)
    assert config.atc_mapping is not None  # read_mimic4 checked it
    mapped = kept.join(mapping, on="ndc", how="left")
    unmapped = mapped.filter(pl.col("atc3").is_null())
    count_unmapped(
        result, "medications", unmapped["ndc"], kept.height, action="dropped (no ATC for the NDC)"
    )
    mapped = mapped.filter(pl.col("atc3").is_not_null())
    result.filters.append(
        FilterEffect(
            "prescriptions.map_ndc_to_atc3",
            {"atc_mapping": config.atc_mapping.name, "multi_atc": config.multi_atc},
            kept.height,
            kept.height - unmapped.height,
        )
    )
    deduped = mapped.unique(["visit_id", "atc3"])
    result.filters.append(
        FilterEffect("prescriptions.dedupe_per_visit", {}, mapped.height, deduped.height)
    )
    return deduped.select("visit_id", "atc3")


def _first_24h(
    frame: pl.DataFrame, visits: pl.DataFrame, path: Path, result: ReadResult
) -> pl.DataFrame:
    frame = frame.with_columns(visit_time("starttime").alias("start"))
    fail_first(
        frame,
        ~pl.col("start").str.contains(TIME_PATTERN),
        path,
        "starttime",
        "not a valid timestamp",
    )
    joined = frame.join(visits.select("visit_id", "time"), on="visit_id", how="left")
    start = pl.col("start").str.to_datetime(strict=False)
    admit = pl.col("time").str.to_datetime(strict=False)
    kept = joined.filter((start - admit) <= pl.duration(hours=24)).drop("time", "start")
    result.filters.append(
        FilterEffect(
            "prescriptions.first_24h",
            {"rule": "starttime within 24 h of admittime"},
            frame.height,
            kept.height,
        )
    )
    return kept
