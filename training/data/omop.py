"""OMOP CDM 5.4 export reader (CSV, gzip CSV or Parquet; one file per table).

Tables: ``visit_occurrence`` (visits), ``condition_occurrence``, ``procedure_occurrence`` and
``drug_exposure``. Codes come from the OMOP vocabulary when ``concept`` (and
``concept_relationship``/``concept_ancestor``) are in the export (see
:mod:`training.data.omop_vocab`); otherwise from ``*_source_value``, read as ICD codes of the
configured systems. Drugs map to ATC3 through the vocabulary (RxNorm → ATC) or a mapping CSV keyed
by ``drug_concept_id`` (matched on that column) or ``rxcui``/``ndc``/``drug_source_value``
(matched on ``drug_source_value``); the CSV wins where both map a drug. Rows without a visit are
dropped and counted: the canonical record groups codes by visit.

Example::

    result = read_omop(Path("cdm"), OmopConfig())  # vocabulary tables in the same folder
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from app.contract.codes import CodeSystem
from app.contract.errors import InputFileError
from training.data.dataset import DatasetManifest, FilterEffect, ReadResult, write_result
from training.data.ehr_io import (
    ICD_PATTERN,
    ROW,
    check_pattern,
    fail_first,
    find_table,
    header_columns,
    normalized_code,
    read_table,
    require_table,
    require_values,
)
from training.data.ehr_maps import load_atc_map
from training.data.ehr_pipeline import (
    TIME_PATTERN,
    EhrFilterConfig,
    EventTables,
    build_patients,
    count_unmapped,
    visit_time,
)
from training.data.omop_vocab import OmopVocabulary

SOURCE_FORMAT = "omop"
DRUG_KEYS = ("drug_concept_id", "drug_source_value", "rxcui", "ndc")


@dataclass(frozen=True)
class OmopConfig:
    """How to read an OMOP CDM export.

    Args:
        atc_mapping: mapping CSV to ATC (key ``drug_concept_id``, ``rxcui``, ``ndc`` or
            ``drug_source_value``; ATC column as in :mod:`training.data.ehr_maps`).
        condition_source_system: system of ``condition_source_value`` when no vocabulary is used.
        procedure_source_system: system of ``procedure_source_value`` when no vocabulary is used.
        use_vocabulary: use the ``concept`` tables when the export has them.
        filters: the shared MIMIC-III filters.
    """

    atc_mapping: Path | None = None
    condition_source_system: str = CodeSystem.ICD10CM.value
    procedure_source_system: str = CodeSystem.ICD10PCS.value
    use_vocabulary: bool = True
    filters: EhrFilterConfig = field(default_factory=EhrFilterConfig)

    def __post_init__(self) -> None:
        systems = {s.value for s in CodeSystem}
        for name in ("condition_source_system", "procedure_source_system"):
            if getattr(self, name) not in systems:
                raise ValueError(f"OmopConfig: {name} must be one of {sorted(systems)}")


def read_omop(export_dir: Path, config: OmopConfig) -> ReadResult:
    """Read an OMOP CDM export directory.

    Raises:
        InputFileError: naming the file, row and column of a missing table or column, an empty
            file, a bad code, or no way to map drugs.
    """
    concept = find_table(export_dir, "concept") if config.use_vocabulary else None
    vocab = OmopVocabulary(export_dir, concept) if concept is not None else None
    if vocab is None and config.atc_mapping is None:
        raise InputFileError(
            export_dir, "OMOP drugs need the vocabulary (concept tables) or an ATC mapping CSV"
        )
    result = ReadResult(patients=[], extra={"code_systems": {}, "medication_system": "atc3"})
    result.extra["vocabulary"] = vocab is not None
    visits = _visits(require_table(export_dir, "visit_occurrence"))
    dx = _coded(export_dir, "condition", config.condition_source_system, vocab, result)
    proc = _coded(export_dir, "procedure", config.procedure_source_system, vocab, result)
    med = _drugs(export_dir, config, vocab, result)
    return build_patients(EventTables(visits, dx, proc, med), config.filters, result, export_dir)


def ingest_omop(
    export_dir: Path, out_dir: Path, config: OmopConfig, *, overwrite: bool = False
) -> DatasetManifest:
    """Read an OMOP CDM export and write it atomically as a canonical Dataset."""
    result = read_omop(export_dir, config)
    return write_result(result, out_dir, source_format=SOURCE_FORMAT, overwrite=overwrite)


def _visits(path: Path) -> pl.DataFrame:
    frame = read_table(
        path, ["visit_occurrence_id", "person_id", "visit_start_date"], ["visit_start_datetime"]
    )
    require_values(frame, path, ["visit_occurrence_id", "person_id", "visit_start_date"])
    frame = frame.with_columns(
        pl.coalesce(visit_time("visit_start_datetime"), visit_time("visit_start_date")).alias(
            "time"
        )
    )
    bad = ~pl.col("time").str.contains(TIME_PATTERN)
    fail_first(frame, bad, path, "visit_start_date", "not a valid date")
    return frame.select(
        pl.col("person_id").str.strip_chars().alias("patient_id"),
        pl.col("visit_occurrence_id").str.strip_chars().alias("visit_id"),
        "time",
    )


def _with_visit(frame: pl.DataFrame, table: str, result: ReadResult) -> pl.DataFrame:
    visit = pl.col("visit_occurrence_id").str.strip_chars()
    kept = frame.with_columns(visit.alias("visit_id")).filter(
        pl.col("visit_id").is_not_null() & (pl.col("visit_id") != "")
    )
    result.filters.append(FilterEffect(f"{table}.with_visit", {}, frame.height, kept.height))
    return kept


def _concept_id(column: str) -> pl.Expr:
    """A concept id column, with OMOP's 0 ("no matching concept") read as missing."""
    value = pl.col(column).str.strip_chars()
    return pl.when(value.is_in(["", "0"])).then(None).otherwise(value)


def _coded(
    export_dir: Path, prefix: str, system: str, vocab: OmopVocabulary | None, result: ReadResult
) -> pl.DataFrame:
    table = f"{prefix}_occurrence"
    path = require_table(export_dir, table)
    source = f"{prefix}_source_value"
    ids = [f"{prefix}_concept_id", f"{prefix}_source_concept_id"]
    required = ["visit_occurrence_id", *(ids if vocab is not None else [source])]
    frame = _with_visit(read_table(path, required, [*ids, source]), table, result)
    if vocab is not None:
        frame = vocab.code_events(
            frame.with_columns(
                _concept_id(ids[0]).alias("concept_id"),
                _concept_id(ids[1]).alias("source_concept_id"),
            )
        )
        native = frame.filter(pl.col("is_native"))
        count_unmapped(result, f"{table} (not ICD)", native["code"], frame.height, action="kept")
        shown = pl.coalesce("source_concept_id", "concept_id", pl.lit("0"))
        missing = frame.filter(pl.col("code").is_null())
        action = "dropped (concept not in the vocabulary)"
        count_unmapped(
            result, table, missing.select(shown).to_series(), frame.height, action=action
        )
    else:
        frame = frame.with_columns(
            normalized_code(source).alias("code"), pl.lit(system).alias("system")
        )
        missing = frame.filter(pl.col("code").is_null() | (pl.col("code") == ""))
        action = "dropped (empty source value)"
        count_unmapped(result, table, missing[ROW].cast(pl.String), frame.height, action=action)
        frame = frame.filter(pl.col("code") != "")
        check_pattern(frame, path, "code", ICD_PATTERN, f"{system} code", shown=source)
    frame = frame.filter(pl.col("code").is_not_null())
    mix = frame.group_by("system").len().sort("system")
    result.extra["code_systems"][table] = dict(mix.iter_rows())
    return frame.select("visit_id", pl.col(ROW).cast(pl.Int64).alias("seq"), "system", "code")


def _drugs(
    export_dir: Path, config: OmopConfig, vocab: OmopVocabulary | None, result: ReadResult
) -> pl.DataFrame:
    path = require_table(export_dir, "drug_exposure")
    frame = read_table(path, ["visit_occurrence_id"], ["drug_concept_id", "drug_source_value"])
    frame = _with_visit(frame, "drug_exposure", result).with_columns(
        _concept_id("drug_concept_id").alias("drug_concept_id"),
        pl.col("drug_source_value").str.strip_chars(),
    )
    lookups = []
    if config.atc_mapping is not None:
        lookups.append(_csv_lookup(config.atc_mapping))
    if vocab is not None:
        lookups.append(("drug_concept_id", vocab.drug_atc3(frame["drug_concept_id"])))
    for i, (column, mapping) in enumerate(lookups):
        keys = list(mapping)
        lookup = pl.DataFrame(
            {column: keys, f"atc_{i}": [list(mapping[k]) for k in keys]},
            schema={column: pl.String, f"atc_{i}": pl.List(pl.String)},
        )
        frame = frame.join(lookup, on=column, how="left")
    atc = pl.coalesce([f"atc_{i}" for i in range(len(lookups))])
    mapped = frame.with_columns(atc.alias("atc3")).explode("atc3")
    unmapped = mapped.filter(pl.col("atc3").is_null())
    shown = pl.coalesce("drug_concept_id", "drug_source_value", pl.lit(""))
    action = "dropped (no ATC for the drug)"
    count_unmapped(
        result, "drug_exposure", unmapped.select(shown).to_series(), frame.height, action=action
    )
    result.filters.append(
        FilterEffect("drug_exposure.map_to_atc3", {}, frame.height, frame.height - unmapped.height)
    )
    mapped = mapped.filter(pl.col("atc3").is_not_null())
    deduped = mapped.unique(["visit_id", "atc3"])
    result.filters.append(
        FilterEffect("drug_exposure.dedupe_per_visit", {}, mapped.height, deduped.height)
    )
    return deduped.select("visit_id", "atc3")


def _csv_lookup(path: Path) -> tuple[str, dict[str, tuple[str, ...]]]:
    columns = header_columns(path)
    key = next((k for k in DRUG_KEYS if k in columns), None)
    if key is None:
        raise InputFileError(path, f"needs a key column ({', '.join(DRUG_KEYS)})", column="rxcui")
    column = "drug_concept_id" if key == "drug_concept_id" else "drug_source_value"
    return column, load_atc_map(path, key)
