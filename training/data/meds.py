"""MEDS reader: Parquet shards of ``subject_id, time, code, numeric_value`` plus ``metadata/``.

A MEDS root holds ``data/**/*.parquet`` (each subject in one shard, its events sorted by time) and
``metadata/`` (``dataset.json``, ``codes.parquet``, ``subject_splits.parquet``). The shards are
scanned lazily with polars: only the four columns (and ``hadm_id``) are read, and only the events
below are collected, so labs, vitals and the like never reach memory.

Conventions (those of the MIMIC-IV MEDS ETL, ``DIAGNOSIS//ICD//9//4019``):

- **Visits** are hospital admissions. ``HOSPITAL_ADMISSION[//...]`` opens one at its time;
  ``HOSPITAL_DISCHARGE[//...]`` closes it (inclusive; the ETL dates diagnoses at discharge). An
  admission with no discharge before the next admission stays open until that one. An event
  belongs to the latest admission at or before it; events before a subject's first admission or
  between a discharge and the next admission are dropped and counted (``events.in_admission``).
  The visit id is the admission's ``hadm_id`` column when present, else ``<subject_id>@<time>``.
- **Diagnoses** ``DIAGNOSIS//ICD//<9|10>//<code>`` and **procedures**
  ``PROCEDURE//ICD//<9|10>//<code>``; dots are stripped (``401.9`` is ``4019``). A
  ``numeric_value`` ranks the codes of a visit (the ETL puts ``seq_num`` there), else file order.
- **Medications** ``MEDICATION//ATC//<code>`` (level 3 to 5, kept at level 3) or
  ``MEDICATION//NDC//<ndc>``, mapped to ATC3 with ``atc_mapping`` as for MIMIC; unmapped NDCs
  are dropped and counted.
- Every other code (``MEDS_BIRTH``, ``LAB//...``, ``MEDICATION//START//<drug name>``...) is skipped
  and counted by its first ``//`` segment in the report (``extra["skipped_codes"]``).

The split of ``subject_splits.parquet`` is reported, not used: trainers split by their own seed.

Example::

    medrec ingest --format meds --input meds-root/ --out var/meds
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from app.contract.codes import CodeSystem
from app.contract.errors import InputFileError
from training.data.dataset import FilterEffect, ReadResult
from training.data.ehr_io import ATC_PATTERN, ICD_PATTERN, ROW
from training.data.ehr_maps import load_ndc_to_atc3
from training.data.ehr_pipeline import EhrFilterConfig, EventTables, build_patients, count_unmapped

SHARD = "_shard"
VISIT_ID = "hadm_id"
_ICD = r"^(DIAGNOSIS|PROCEDURE)//ICD//(9|10)//(.+)$"
_DRUG = r"^MEDICATION//(ATC|NDC)//(.+)$"
_SYSTEMS = {
    ("DIAGNOSIS", "9"): CodeSystem.ICD9CM,
    ("DIAGNOSIS", "10"): CodeSystem.ICD10CM,
    ("PROCEDURE", "9"): CodeSystem.ICD9PROC,
    ("PROCEDURE", "10"): CodeSystem.ICD10PCS,
}


@dataclass(frozen=True)
class MedsConfig:
    """How to read a MEDS dataset.

    Args:
        atc_mapping: CSV with ``atc4`` and ``ndc`` or ``rxcui``; needed when there are NDC codes.
        ndc2rxcui: CSV ``ndc,rxcui``, for the NDC → RxCUI → ATC route.
        multi_atc: ``all`` ATC4 codes of an NDC, or only the ``first`` (GAMENet keeps one).
        filters: the shared MIMIC-III filters.
    """

    atc_mapping: Path | None = None
    ndc2rxcui: Path | None = None
    multi_atc: Literal["all", "first"] = "all"
    filters: EhrFilterConfig = field(default_factory=EhrFilterConfig)


def read_meds(root: Path, config: MedsConfig) -> ReadResult:
    """Read the MEDS dataset at ``root`` (the directory holding ``data/`` and ``metadata/``).

    Raises:
        InputFileError: naming the shard, row and column of a missing or mistyped column, an
            event without a time, a malformed ICD, ATC or NDC code; naming ``root`` when there
            are no shards, no admissions, NDC codes without a mapping, or no patient is left.
    """
    root = Path(root)
    shards = _shards(root)
    result = ReadResult(patients=[], extra={"meds": _metadata(root), "shards": len(shards)})
    events = pl.concat([_scan(path, i) for i, path in enumerate(shards)], how="vertical_relaxed")
    events = events.with_columns(_kind().alias("kind"))
    skipped = (
        events.filter(pl.col("kind") == "other")
        .group_by(pl.col("code").str.split("//").list.first().alias("prefix"))
        .len()
    )
    used = events.filter(pl.col("kind") != "other")
    ev, skipped_counts = pl.collect_all([used, skipped], engine="streaming")
    _report_skipped(skipped_counts, result)
    _check(ev, shards)
    visits, owned = _visits(ev, root, result)
    tables = EventTables(
        visits,
        _codes(owned, "DIAGNOSIS", result),
        _codes(owned, "PROCEDURE", result),
        _medications(owned, root, config, result),
    )
    return build_patients(tables, config.filters, result, root)


def _shards(root: Path) -> list[Path]:
    shards = sorted((root / "data").glob("**/*.parquet"))
    if not shards:
        raise InputFileError(root / "data", "no MEDS shards (data/**/*.parquet)")
    return shards


def _metadata(root: Path) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    path = root / "metadata" / "dataset.json"
    if path.is_file():
        try:
            meta.update(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputFileError(path, f"not valid JSON ({type(exc).__name__})") from None
    splits = root / "metadata" / "subject_splits.parquet"
    if splits.is_file():
        counts = pl.read_parquet(splits, columns=["split"])["split"].value_counts(sort=True)
        meta["subject_splits"] = dict(counts.iter_rows())
    return meta


def _scan(path: Path, index: int) -> pl.LazyFrame:
    """The shard's used columns, typed, with its index and 1-based row (the file's order)."""
    try:
        schema = pl.read_parquet_schema(path)
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise InputFileError(path, f"cannot be read as Parquet ({type(exc).__name__})") from None
    wanted = {
        "subject_id": lambda t: t.is_integer(),
        "time": lambda t: isinstance(t, pl.Datetime | pl.Date) or t == pl.Null,
        "code": lambda t: t in (pl.String, pl.Categorical),
        "numeric_value": lambda t: t.is_numeric() or t == pl.Null,
    }
    for column, ok in wanted.items():
        if column not in schema:
            raise InputFileError(path, "required column is missing", row=0, column=column)
        if not ok(schema[column]):
            raise InputFileError(path, f"unexpected type {schema[column]}", row=0, column=column)
    visit = pl.col(VISIT_ID).cast(pl.String) if VISIT_ID in schema else pl.lit(None, pl.String)
    return (
        pl.scan_parquet(path)
        .select(
            pl.col("subject_id").cast(pl.Int64),
            pl.col("time").cast(pl.Datetime("us")),
            pl.col("code").cast(pl.String),
            pl.col("numeric_value").cast(pl.Float64),
            visit.alias(VISIT_ID),
        )
        .with_row_index(ROW, offset=1)
        .with_columns(pl.lit(index, pl.UInt32).alias(SHARD))
    )


def _kind() -> pl.Expr:
    """``admission``, ``discharge``, ``DIAGNOSIS``, ``PROCEDURE``, ``MEDICATION`` or ``other``."""
    code = pl.col("code")
    return (
        pl.when(code.str.contains(_ICD))
        .then(code.str.extract(_ICD, 1))
        .when(code.str.contains(r"^HOSPITAL_ADMISSION(//|$)"))
        .then(pl.lit("admission"))
        .when(code.str.contains(r"^HOSPITAL_DISCHARGE(//|$)"))
        .then(pl.lit("discharge"))
        .when(code.str.contains(_DRUG))
        .then(pl.lit("MEDICATION"))
        .otherwise(pl.lit("other"))
    )


def _report_skipped(counts: pl.DataFrame, result: ReadResult) -> None:
    skipped = dict(counts.sort(["len", "prefix"], descending=[True, False]).iter_rows())
    result.extra["skipped_codes"] = skipped
    if skipped:
        top = ", ".join(str(p) for p in list(skipped)[:5])
        result.notes.append(
            f"meds: {sum(skipped.values())} events of other codes ({top}...) are not used"
        )


def _fail(ev: pl.DataFrame, bad: pl.Expr, shards: list[Path], column: str, message: str) -> None:
    hits = ev.filter(bad).sort(SHARD, ROW).head(1)
    if hits.height:
        shard, row = hits[SHARD][0], hits[ROW][0]
        raise InputFileError(shards[shard], message, row=int(row), column=column)


def _check(ev: pl.DataFrame, shards: list[Path]) -> None:
    _fail(ev, pl.col("subject_id").is_null(), shards, "subject_id", "empty value")
    _fail(ev, pl.col("time").is_null(), shards, "time", "this code needs a time")
    code, kind = pl.col("code"), pl.col("kind")
    icd = code.str.extract(_ICD, 3).str.replace_all(".", "", literal=True).str.to_uppercase()
    is_icd = kind.is_in(["DIAGNOSIS", "PROCEDURE"])
    _fail(ev, is_icd & ~icd.str.contains(ICD_PATTERN), shards, "code", "not a valid ICD code")
    drug, value = code.str.extract(_DRUG, 1), code.str.extract(_DRUG, 2).str.to_uppercase()
    bad_atc = (drug == "ATC") & ~value.str.contains(ATC_PATTERN)
    _fail(ev, bad_atc, shards, "code", "not a valid ATC code (level 3 to 5)")
    bad_ndc = (drug == "NDC") & ~value.str.contains(r"^[0-9]{1,11}$")
    _fail(ev, bad_ndc, shards, "code", "not a valid NDC (digits only)")


def _visits(ev: pl.DataFrame, root: Path, result: ReadResult) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The admissions as visits, and each code event with the visit that owns it."""
    by = ["subject_id", "time"]
    adm = ev.filter(pl.col("kind") == "admission").unique(by, keep="first").sort(by)
    if adm.height == 0:
        raise InputFileError(root, "no HOSPITAL_ADMISSION events: MEDS visits are admissions")
    discharges = ev.filter(pl.col("kind") == "discharge").select(by).unique().sort(by)
    adm = adm.with_columns(
        pl.col("time").shift(-1).over("subject_id").alias("next_admission"),
        pl.coalesce(
            VISIT_ID,
            pl.format("{}@{}", "subject_id", pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S")),
        ).alias("visit_id"),
    )
    ends = discharges.rename({"time": "end"})
    adm = adm.join_asof(ends, left_on="time", right_on="end", by="subject_id", strategy="forward")
    open_end = pl.col("end").is_null() | (pl.col("end") >= pl.col("next_admission"))
    adm = adm.with_columns(pl.when(open_end).then(None).otherwise(pl.col("end")).alias("end"))
    codes = ev.filter(pl.col("kind").is_in(["DIAGNOSIS", "PROCEDURE", "MEDICATION"])).sort(by)
    owned = codes.join_asof(
        adm.select("subject_id", "time", "visit_id", "end"), on="time", by="subject_id"
    )
    inside = pl.col("visit_id").is_not_null() & (
        pl.col("end").is_null() | (pl.col("time") <= pl.col("end"))
    )
    kept = owned.filter(inside)
    result.filters.append(
        FilterEffect(
            "events.in_admission",
            {"rule": "latest admission at or before the event, up to its discharge"},
            codes.height,
            kept.height,
            codes["subject_id"].n_unique(),
            kept["subject_id"].n_unique(),
        )
    )
    visits = adm.select(
        pl.col("subject_id").cast(pl.String).alias("patient_id"),
        "visit_id",
        pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    return visits, kept


def _codes(owned: pl.DataFrame, kind: str, result: ReadResult) -> pl.DataFrame:
    code = pl.col("code")
    system = pl.concat_str(pl.lit(kind), code.str.extract(_ICD, 2), separator="/")
    names = {f"{k}/{v}": s.value for (k, v), s in _SYSTEMS.items() if k == kind}
    events = (
        owned.filter(pl.col("kind") == kind)
        .sort(["numeric_value", SHARD, ROW], nulls_last=True)
        .with_row_index("seq")
        .select(
            "visit_id",
            pl.col("seq").cast(pl.Int64),
            system.replace_strict(names).alias("system"),
            code.str.extract(_ICD, 3)
            .str.replace_all(".", "", literal=True)
            .str.to_uppercase()
            .alias("code"),
        )
    )
    mix = events.group_by("system").len().sort("system")
    table = "diagnoses" if kind == "DIAGNOSIS" else "procedures"
    result.extra.setdefault("code_systems", {})[table] = dict(mix.iter_rows())
    return events


def _medications(
    owned: pl.DataFrame, root: Path, config: MedsConfig, result: ReadResult
) -> pl.DataFrame:
    drugs = owned.filter(pl.col("kind") == "MEDICATION").select(
        "visit_id",
        pl.col("code").str.extract(_DRUG, 1).alias("vocabulary"),
        pl.col("code").str.extract(_DRUG, 2).str.to_uppercase().alias("value"),
    )
    atc = drugs.filter(pl.col("vocabulary") == "ATC").select(
        "visit_id", pl.col("value").str.slice(0, 4).alias("atc3")
    )
    ndc = drugs.filter(pl.col("vocabulary") == "NDC").rename({"value": "ndc"})
    if ndc.height:
        if config.atc_mapping is None:
            raise InputFileError(
                root, "MEDICATION//NDC codes need an NDC → ATC mapping (atc_mapping)"
            )
        mapping = load_ndc_to_atc3(config.atc_mapping, config.ndc2rxcui, multi_atc=config.multi_atc)
        mapped = ndc.join(mapping, on="ndc", how="left")
        unmapped = mapped.filter(pl.col("atc3").is_null())
        count_unmapped(
            result,
            "medications",
            unmapped["ndc"],
            ndc.height,
            action="dropped (no ATC for the NDC)",
        )
        atc = pl.concat([atc, mapped.filter(pl.col("atc3").is_not_null()).select(atc.columns)])
    deduped = atc.unique(["visit_id", "atc3"], maintain_order=True)
    result.filters.append(
        FilterEffect("medications.dedupe_per_visit", {}, atc.height, deduped.height)
    )
    return deduped
