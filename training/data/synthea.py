"""Synthea CSV export reader (``encounters``, ``conditions``, ``procedures``, ``medications``).

Synthea codes conditions and procedures in SNOMED CT and medications in RxNorm. Mapping them needs
user mapping CSVs (``snomed,icd10cm`` ...; ``rxcui,atc4``). Without them:

- conditions and procedures keep their SNOMED codes as their own code system, ``snomed``;
- medications keep their RxNorm codes as tokens ``rxnorm:<rxcui>``. They are **not** ATC3 classes,
  so ATC3 DDI tables match none of them. The manifest says so (``extra.medication_system`` is
  ``rxnorm`` and a note explains it); training a DDI-aware model needs the ``atc_mapping`` CSV.

With a mapping, SNOMED codes it lacks stay ``snomed`` (counted), and RxNorm codes it lacks are
dropped (counted), as the MIMIC-III reader drops unmapped NDCs.

Example::

    result = read_synthea(Path("synthea/csv"), SyntheaConfig(atc_mapping=Path("rxcui2atc.csv")))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from training.data.dataset import DatasetManifest, FilterEffect, ReadResult, write_result
from training.data.ehr_io import (
    SNOMED_PATTERN,
    check_pattern,
    fail_first,
    read_table,
    require_table,
    require_values,
)
from training.data.ehr_maps import load_atc_map, load_code_map, map_frame_atc
from training.data.ehr_pipeline import (
    TIME_PATTERN,
    EhrFilterConfig,
    EventTables,
    build_patients,
    count_unmapped,
    visit_time,
)
from training.data.records import Code

SOURCE_FORMAT = "synthea"
NATIVE_DX = "snomed"
RXNORM_PREFIX = "rxnorm:"


@dataclass(frozen=True)
class SyntheaConfig:
    """How to read a Synthea CSV export.

    Args:
        snomed_conditions: CSV ``snomed,icd10cm`` (or ``snomed,system,code``) for conditions.
        snomed_procedures: CSV ``snomed,icd10pcs`` (or ``snomed,system,code``) for procedures.
        atc_mapping: CSV ``rxcui,atc4``; without it medications stay ``rxnorm:<rxcui>`` tokens.
        encounter_classes: keep only these ``ENCOUNTERCLASS`` values (e.g. ``("inpatient",)``).
        filters: the shared MIMIC-III filters.
    """

    snomed_conditions: Path | None = None
    snomed_procedures: Path | None = None
    atc_mapping: Path | None = None
    encounter_classes: tuple[str, ...] | None = None
    filters: EhrFilterConfig = field(default_factory=EhrFilterConfig)


def read_synthea(export_dir: Path, config: SyntheaConfig) -> ReadResult:
    """Read a Synthea CSV export directory.

    Raises:
        InputFileError: naming the file, row and column of a missing table or column, an empty
            file or a bad code.
    """
    result = ReadResult(patients=[])
    encounters = require_table(export_dir, "encounters", suffixes=(".csv",))
    visits = _encounters(encounters, config, result)
    dx = _coded(export_dir, "conditions", config.snomed_conditions, result)
    proc = _coded(export_dir, "procedures", config.snomed_procedures, result)
    med = _medications(export_dir, config, result)
    return build_patients(EventTables(visits, dx, proc, med), config.filters, result, export_dir)


def ingest_synthea(
    export_dir: Path, out_dir: Path, config: SyntheaConfig, *, overwrite: bool = False
) -> DatasetManifest:
    """Read a Synthea export and write it atomically as a canonical Dataset."""
    result = read_synthea(export_dir, config)
    return write_result(result, out_dir, source_format=SOURCE_FORMAT, overwrite=overwrite)


def _encounters(path: Path, config: SyntheaConfig, result: ReadResult) -> pl.DataFrame:
    frame = read_table(path, ["id", "start", "patient"], ["encounterclass"])
    require_values(frame, path, ["id", "start", "patient"])
    frame = frame.with_columns(visit_time("start").alias("time"))
    bad_time = ~pl.col("time").str.contains(TIME_PATTERN)
    fail_first(frame, bad_time, path, "START", "not a valid timestamp")
    if config.encounter_classes is not None:
        before = frame
        frame = frame.filter(pl.col("encounterclass").is_in(list(config.encounter_classes)))
        result.filters.append(
            FilterEffect(
                "encounters.class",
                {"classes": list(config.encounter_classes)},
                before.height,
                frame.height,
                int(before["patient"].n_unique()),
                int(frame["patient"].n_unique()),
            )
        )
    return frame.select(
        pl.col("patient").alias("patient_id"), pl.col("id").alias("visit_id"), "time"
    )


def _coded(export_dir: Path, table: str, mapping: Path | None, result: ReadResult) -> pl.DataFrame:
    path = require_table(export_dir, table, suffixes=(".csv",))
    frame = read_table(path, ["encounter", "code"])
    require_values(frame, path, ["encounter", "code"])
    frame = frame.with_columns(pl.col("code").str.strip_chars())
    check_pattern(frame, path, "code", SNOMED_PATTERN, "SNOMED CT code", shown="CODE")
    events = frame.select(
        pl.col("encounter").alias("visit_id"),
        pl.col("_row").cast(pl.Int64).alias("seq"),
        pl.lit(NATIVE_DX).alias("system"),
        "code",
    )
    if mapping is None:
        result.notes.append(f"{table}: no SNOMED mapping given, codes kept as system 'snomed'")
        result.extra.setdefault("code_systems", {})[table] = NATIVE_DX
        return events
    return _map_snomed(events, load_code_map(mapping, "snomed"), table, result)


def _map_snomed(
    events: pl.DataFrame, mapping: dict[str, Code], table: str, result: ReadResult
) -> pl.DataFrame:
    keys = list(mapping)
    lookup = pl.DataFrame(
        {
            "code": keys,
            "to_system": [mapping[k].system for k in keys],
            "to_code": [mapping[k].code for k in keys],
        },
        schema={"code": pl.String, "to_system": pl.String, "to_code": pl.String},
    )
    joined = events.join(lookup, on="code", how="left")
    unmapped = joined.filter(pl.col("to_code").is_null())
    count_unmapped(result, table, unmapped["code"], events.height, action="kept as 'snomed' codes")
    mix = joined.group_by(pl.col("to_system").fill_null(NATIVE_DX)).len()
    result.extra.setdefault("code_systems", {})[table] = dict(mix.iter_rows())
    return joined.select(
        "visit_id",
        "seq",
        pl.coalesce("to_system", "system").alias("system"),
        pl.coalesce("to_code", "code").alias("code"),
    )


def _medications(export_dir: Path, config: SyntheaConfig, result: ReadResult) -> pl.DataFrame:
    path = require_table(export_dir, "medications", suffixes=(".csv",))
    frame = read_table(path, ["encounter", "code"])
    require_values(frame, path, ["encounter", "code"])
    frame = frame.with_columns(pl.col("code").str.strip_chars())
    check_pattern(frame, path, "code", r"^[0-9]{1,10}$", "RxNorm code", shown="CODE")
    frame = frame.rename({"encounter": "visit_id"})
    if config.atc_mapping is None:
        note = (
            "medications: no RxNorm → ATC mapping given, kept as 'rxnorm:<rxcui>' tokens, "
            "NOT ATC3 classes: ATC3 DDI tables will not match them"
        )
        result.notes.append(note)
        result.extra["medication_system"] = "rxnorm"
        tokens = frame.select("visit_id", (pl.lit(RXNORM_PREFIX) + pl.col("code")).alias("atc3"))
        return _dedupe(tokens, result)
    result.extra["medication_system"] = "atc3"
    mapped = map_frame_atc(frame, "code", load_atc_map(config.atc_mapping, "rxcui"))
    unmapped = mapped.filter(pl.col("atc3").is_null())
    action = "dropped (no ATC for the RxCUI)"
    count_unmapped(result, "medications", unmapped["code"], frame.height, action=action)
    result.filters.append(
        FilterEffect(
            "medications.map_rxnorm_to_atc3", {}, frame.height, frame.height - unmapped.height
        )
    )
    return _dedupe(mapped.filter(pl.col("atc3").is_not_null()), result)


def _dedupe(med: pl.DataFrame, result: ReadResult) -> pl.DataFrame:
    deduped = med.unique(["visit_id", "atc3"])
    result.filters.append(
        FilterEffect("medications.dedupe_per_visit", {}, med.height, deduped.height)
    )
    return deduped.select("visit_id", "atc3")
