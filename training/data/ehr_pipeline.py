"""The filters and assembly shared by the MIMIC-III, MIMIC-IV, OMOP, Synthea and FHIR readers.

A reader turns its export into four long tables (:class:`EventTables`) and hands them here. The
filters are the GAMENet/SafeDrug preprocessing's, each recorded as a
:class:`~training.data.dataset.FilterEffect`:

0. ``<kind>.with_known_visit``: drop (and count) events whose visit is not in the visit table;
1. ``diagnoses.top_n``: keep the N most frequent diagnosis codes (rows counted; ties by code);
2. ``visits.in_all_tables``: keep visits with a diagnosis, a procedure and a medication (or, when
   ``require_all_tables`` is off, ``visits.with_codes``: any code at all);
3. ``patients.min_visits``: keep patients with at least ``min_visits`` visits.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from app.contract.errors import InputFileError
from training.data.dataset import FilterEffect, ReadResult
from training.data.records import Code, Patient, Visit

logger = logging.getLogger(__name__)

TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$"
TOP_UNMAPPED = 20
# The time of day, then fractions of a second and a UTC offset or Z, which are dropped.
TIME_TAIL = r"(T\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$"


@dataclass(frozen=True)
class EhrFilterConfig:
    """The GAMENet/SafeDrug filters, shared by every export reader.

    Args:
        top_n_diagnoses: the N most frequent diagnosis codes to keep (GAMENet: 2000); ``None``: all.
        min_visits: keep patients with at least this many visits (G-BERT pre-training wants 1).
        require_all_tables: keep only visits with a diagnosis, a procedure and a medication.
    """

    top_n_diagnoses: int | None = 2000
    min_visits: int = 2
    require_all_tables: bool = True

    def __post_init__(self) -> None:
        if self.top_n_diagnoses is not None and self.top_n_diagnoses < 1:
            raise ValueError("EhrFilterConfig: top_n_diagnoses must be >= 1 or None")
        if self.min_visits < 1:
            raise ValueError("EhrFilterConfig: min_visits must be >= 1")


KEEP_ALL = EhrFilterConfig(top_n_diagnoses=None, min_visits=1, require_all_tables=False)
"""No filtering beyond dropping visits without any code: what a round trip must reproduce."""


@dataclass
class EventTables:
    """A reader's export as long tables, all string columns.

    Attributes:
        visits: ``patient_id, visit_id, time`` (time ISO-8601 without zone).
        diagnoses: ``visit_id, seq, system, code`` (``seq`` orders codes within a visit).
        procedures: ``visit_id, seq, system, code``.
        medications: ``visit_id, atc3`` (already mapped; unmapped rows counted by the reader).
    """

    visits: pl.DataFrame
    diagnoses: pl.DataFrame
    procedures: pl.DataFrame
    medications: pl.DataFrame


def count_unmapped(
    result: ReadResult,
    kind: str,
    codes: pl.Series | Counter[str],
    total_rows: int,
    *,
    action: str,
) -> None:
    """Record how many ``kind`` rows and distinct codes had no mapping: warning, note and extra.

    ``codes`` holds the source code of every unmapped row (or their counts); ``action`` says what
    happened to them.
    """
    if isinstance(codes, Counter):
        counts = codes
    else:
        counts = Counter(str(c) for c in codes.to_list())
    rows = sum(counts.values())
    entry = {
        "rows": rows,
        "rows_total": total_rows,
        "distinct": len(counts),
        "action": action,
        "top": [[c, n] for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][
            :TOP_UNMAPPED
        ],
    }
    result.extra.setdefault("unmapped", {})[kind] = entry
    if rows:
        note = (
            f"{kind}: {rows} of {total_rows} rows ({len(counts)} distinct codes) unmapped, {action}"
        )
        result.notes.append(note)
        logger.warning(note)


def visit_time(column: str) -> pl.Expr:
    """Expression normalising a timestamp to ``YYYY-MM-DD[THH:MM:SS]`` (zone dropped)."""
    return (
        pl.col(column)
        .str.strip_chars()
        .str.replace(" ", "T", literal=True)
        .str.replace(TIME_TAIL, "${1}")
    )


def build_patients(
    tables: EventTables,
    config: EhrFilterConfig,
    result: ReadResult,
    source: Path,
    *,
    top_codes: pl.DataFrame | None = None,
    require_patients: bool = True,
) -> ReadResult:
    """Apply the filters to ``tables`` and fill ``result.patients``.

    A reader that reads its export in passes gives ``top_codes`` (``system, code``), the diagnosis
    codes ``diagnoses.top_n`` keeps, counted over the whole export (:func:`top_of`), and sets
    ``require_patients`` off: one pass may keep no patient (see :func:`no_patient_error`).

    Raises:
        InputFileError: naming ``source`` when no patient is left, with each filter's effect.
    """
    visits = tables.visits.unique(["visit_id"], keep="first", maintain_order=True)
    if visits.height < tables.visits.height:
        effect = FilterEffect("visits.distinct_ids", {}, tables.visits.height, visits.height)
        result.filters.append(effect)
        _note(result, effect)
    owner = visits.select("patient_id", "visit_id")
    dx = _known_visits(tables.diagnoses, owner, "diagnoses", result)
    proc = _known_visits(tables.procedures, owner, "procedures", result)
    med = _known_visits(tables.medications, owner, "medications", result)
    dx = _top_n(dx, config, result, top_codes)
    kept = _visits_with_events(visits, dx, proc, med, config, result)
    kept = _min_visits(kept, config, result)
    if kept.height == 0 and require_patients:
        raise no_patient_error(source, result.filters)
    result.patients = _assemble(kept, dx, proc, med)
    return result


def code_counts(visits: pl.DataFrame, diagnoses: pl.DataFrame) -> pl.DataFrame:
    """Rows per diagnosis ``system, code`` among the events of known visits (``len``)."""
    known = diagnoses.join(visits.select("visit_id").unique(), on="visit_id", how="semi")
    return known.group_by("system", "code").len()


def top_of(counts: pl.DataFrame, n: int) -> pl.DataFrame:
    """The ``n`` most frequent ``system, code`` of :func:`code_counts` (ties by code)."""
    ranked = counts.sort(["len", "system", "code"], descending=[True, False, False])
    return ranked.head(n).select("system", "code")


def merge_effects(runs: list[list[FilterEffect]]) -> list[FilterEffect]:
    """The effects of passes over disjoint sets of patients, as one pass over all of them.

    Every pass ran the same filters; rows and patients add up.
    """

    def total(values: list[int | None]) -> int | None:
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    merged = []
    for effects in zip(*runs, strict=True):
        assert len({e.name for e in effects}) == 1, "passes ran different filters"
        merged.append(
            FilterEffect(
                effects[0].name,
                effects[0].params,
                sum(e.rows_before for e in effects),
                sum(e.rows_after for e in effects),
                total([e.patients_before for e in effects]),
                total([e.patients_after for e in effects]),
            )
        )
    return merged


def filter_notes(filters: list[FilterEffect]) -> list[str]:
    """The notes :func:`build_patients` writes for these effects (repeated ids, unknown visits)."""
    return [n for n in map(_note_of, filters) if n]


def _note_of(effect: FilterEffect) -> str | None:
    dropped = effect.rows_before - effect.rows_after
    if effect.name == "visits.distinct_ids" and dropped:
        return f"visits: {dropped} repeated visit ids, first kept"
    if effect.name.endswith(".with_known_visit") and dropped:
        kind = effect.name.split(".")[0]
        return f"{kind}: {dropped} rows name a visit missing from the visits"
    return None


def _note(result: ReadResult, effect: FilterEffect) -> None:
    note = _note_of(effect)
    if note:
        result.notes.append(note)
        logger.warning(note)


def no_patient_error(source: Path, filters: list[FilterEffect]) -> InputFileError:
    """The error for an export no patient survives, naming the filter that emptied it.

    The message also says what every filter that dropped rows kept.
    """
    steps = [
        f"{f.name} kept {f.rows_after} of {f.rows_before} rows"
        for f in filters
        if f.rows_after < f.rows_before
    ]
    first_empty = next((f.name for f in filters if f.rows_after == 0), None)
    where = f"; filter {first_empty} left no rows" if first_empty else ""
    return InputFileError(
        source,
        f"no patient is left after filtering{where}: "
        + ("; ".join(steps) or "no filter dropped rows (the export holds no usable visits)"),
    )


def _patients(frame: pl.DataFrame) -> int:
    return int(frame["patient_id"].n_unique())


def _known_visits(
    events: pl.DataFrame, owner: pl.DataFrame, kind: str, result: ReadResult
) -> pl.DataFrame:
    """Events whose visit is in the visit table; the others are dropped and counted."""
    kept = events.join(owner, on="visit_id")
    effect = FilterEffect(f"{kind}.with_known_visit", {}, events.height, kept.height)
    result.filters.append(effect)
    _note(result, effect)
    return kept


def _top_n(
    dx: pl.DataFrame, config: EhrFilterConfig, result: ReadResult, top: pl.DataFrame | None
) -> pl.DataFrame:
    if config.top_n_diagnoses is None:
        return dx
    if top is None:
        top = top_of(dx.group_by("system", "code").len(), config.top_n_diagnoses)
    kept = dx.join(top, on=["system", "code"], how="semi")
    result.filters.append(
        FilterEffect(
            "diagnoses.top_n",
            {"n": config.top_n_diagnoses},
            dx.height,
            kept.height,
            _patients(dx),
            _patients(kept),
        )
    )
    return kept


def _visits_with_events(
    visits: pl.DataFrame,
    dx: pl.DataFrame,
    proc: pl.DataFrame,
    med: pl.DataFrame,
    config: EhrFilterConfig,
    result: ReadResult,
) -> pl.DataFrame:
    ids = [t.select("visit_id").unique() for t in (dx, proc, med)]
    if config.require_all_tables:
        kept = visits.join(ids[0], on="visit_id", how="semi")
        kept = kept.join(ids[1], on="visit_id", how="semi").join(ids[2], on="visit_id", how="semi")
        name = "visits.in_all_tables"
    else:
        kept = visits.join(pl.concat(ids).unique(), on="visit_id", how="semi")
        name = "visits.with_codes"
    result.filters.append(
        FilterEffect(name, {}, visits.height, kept.height, _patients(visits), _patients(kept))
    )
    return kept


def _min_visits(visits: pl.DataFrame, config: EhrFilterConfig, result: ReadResult) -> pl.DataFrame:
    many = visits.group_by("patient_id").len().filter(pl.col("len") >= config.min_visits)
    kept = visits.join(many.select("patient_id"), on="patient_id", how="semi")
    result.filters.append(
        FilterEffect(
            "patients.min_visits",
            {"min_visits": config.min_visits},
            visits.height,
            kept.height,
            _patients(visits),
            _patients(kept),
        )
    )
    return kept


def _codes_per_visit(events: pl.DataFrame) -> tuple[pl.DataFrame, list[Code]]:
    """Distinct codes per visit in ``seq`` order, as ids into the returned list of codes.

    Each distinct code becomes one shared ``Code`` object: building one per row would cost more
    than everything polars does here.
    """
    distinct = events.select("system", "code").unique(maintain_order=True).with_row_index("cid")
    table = [Code(s, c) for s, c in distinct.select("system", "code").iter_rows()]
    per_visit = (
        events.sort(["visit_id", "seq"])
        .unique(["visit_id", "system", "code"], keep="first", maintain_order=True)
        .join(distinct, on=["system", "code"])
        .group_by("visit_id", maintain_order=True)
        .agg(pl.col("cid"))
    )
    return per_visit, table


def _assemble(
    visits: pl.DataFrame, dx: pl.DataFrame, proc: pl.DataFrame, med: pl.DataFrame
) -> list[Patient]:
    dxv, dx_codes = _codes_per_visit(dx)
    prv, pr_codes = _codes_per_visit(proc)
    mdv = med.unique(["visit_id", "atc3"]).group_by("visit_id").agg(pl.col("atc3").sort())
    frame = (
        visits.join(dxv.rename({"cid": "dx"}), on="visit_id", how="left")
        .join(prv.rename({"cid": "pr"}), on="visit_id", how="left")
        .join(mdv, on="visit_id", how="left")
        .sort(
            [
                pl.col("patient_id").str.len_chars(),
                "patient_id",
                "time",
                pl.col("visit_id").str.len_chars(),
                "visit_id",
            ]
        )
        .select("patient_id", "visit_id", "time", "dx", "pr", "atc3")
    )
    patients: list[Patient] = []
    current: str | None = None
    batch: list[Visit] = []
    for patient_id, visit_id, time, dx_ids, pr_ids, meds in frame.iter_rows():
        if patient_id != current:
            if current is not None:
                patients.append(Patient(current, tuple(batch)))
            current, batch = patient_id, []
        batch.append(
            Visit(
                visit_id=visit_id,
                time=time,
                diagnoses=tuple(map(dx_codes.__getitem__, dx_ids or ())),
                procedures=tuple(map(pr_codes.__getitem__, pr_ids or ())),
                medications=tuple(meds or ()),
            )
        )
    if current is not None:
        patients.append(Patient(current, tuple(batch)))
    return patients
