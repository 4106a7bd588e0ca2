"""The data report (``medrec data report``): counts, code mix, set sizes and every filter's effect.

It reads a Dataset directory, or a MIMIC-III-layout export (such as ``medrec synth`` writes), which
it preprocesses in memory with the default :class:`~training.data.mimic3.Mimic3Config`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from training.data.dataset import MANIFEST_FILE, Dataset, FilterEffect
from training.data.ehr_io import find_table
from training.data.records import Patient


@dataclass
class DataReport:
    """What a person needs to judge a dataset before training on it."""

    source: str
    patients: int = 0
    visits: int = 0
    visits_per_patient: Counter[int] = field(default_factory=Counter)
    per_visit: dict[str, Counter[int]] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)
    systems: Counter[str] = field(default_factory=Counter)
    top_meds: list[tuple[str, int]] = field(default_factory=list)
    filters: list[FilterEffect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(
    patients: Iterable[Patient],
    *,
    source: str,
    filters: list[FilterEffect] | None = None,
    notes: list[str] | None = None,
) -> DataReport:
    """Stream ``patients`` once and return their report."""
    report = DataReport(source, filters=list(filters or []), notes=list(notes or []))
    report.per_visit = {"diagnoses": Counter(), "procedures": Counter(), "medications": Counter()}
    seen: dict[str, set[Any]] = {"diagnoses": set(), "procedures": set(), "medications": set()}
    meds: Counter[str] = Counter()
    for patient in patients:
        report.patients += 1
        report.visits += len(patient.visits)
        report.visits_per_patient[len(patient.visits)] += 1
        for visit in patient.visits:
            for kind, items in (
                ("diagnoses", visit.diagnoses),
                ("procedures", visit.procedures),
                ("medications", visit.medications),
            ):
                report.per_visit[kind][len(items)] += 1
                seen[kind].update(items)
            report.systems.update(c.system for c in (*visit.diagnoses, *visit.procedures))
            meds.update(visit.medications)
    report.distinct = {k: len(v) for k, v in seen.items()}
    report.top_meds = meds.most_common(5)
    return report


def load_report(path: Path) -> DataReport:
    """Report on a Dataset directory, or on a MIMIC-III-layout export (preprocessed in memory)."""
    path = Path(path)
    if (path / MANIFEST_FILE).is_file() or find_table(path, "ADMISSIONS") is None:
        dataset = Dataset(path)
        m = dataset.manifest
        report = summarize(
            dataset.iter_patients(), source=m.source_format, filters=m.filters, notes=m.notes
        )
        report.extra = {"fingerprint": m.fingerprint, **m.extra}
        return report
    from training.data.mimic3 import Mimic3Config, read_mimic3

    result = read_mimic3(path, Mimic3Config())
    report = summarize(
        result.patients,
        source="mimic3 export (not ingested)",
        filters=result.filters,
        notes=result.notes,
    )
    report.extra = result.extra
    return report


def _stats(hist: Counter[int]) -> tuple[str, str, str, str]:
    """Mean, median, 95th percentile and max of a histogram of counts."""
    total = sum(hist.values())
    if not total:
        return ("-", "-", "-", "-")
    mean = sum(k * n for k, n in hist.items()) / total
    return (f"{mean:.2f}", str(_quantile(hist, 0.5)), str(_quantile(hist, 0.95)), str(max(hist)))


def _quantile(hist: Counter[int], q: float) -> int:
    target, running = q * sum(hist.values()), 0
    for value in sorted(hist):
        running += hist[value]
        if running >= target:
            return value
    return max(hist)


def _short(value: Any) -> str:
    return "/".join(map(repr, value)) if isinstance(value, list) else str(value)


def _filter_table(filters: list[FilterEffect]) -> Table:
    table = Table(title="Filters, in the order they ran")
    table.add_column("filter", no_wrap=True)
    table.add_column("params", overflow="fold")
    for column in ("rows before", "rows after", "patients before", "patients after"):
        table.add_column(column, justify="right")
    for f in filters:
        params = ", ".join(f"{k}={_short(v)}" for k, v in f.params.items())
        table.add_row(
            f.name,
            params,
            str(f.rows_before),
            str(f.rows_after),
            str(f.patients_before or "-"),
            str(f.patients_after or "-"),
        )
    return table


def render_report(report: DataReport, console: Console) -> None:
    """Print ``report`` as rich tables."""
    counts = Table(title=f"Dataset ({report.source})")
    for column in ("patients", "visits", "distinct dx", "distinct proc", "distinct meds"):
        counts.add_column(column, justify="right")
    counts.add_row(
        str(report.patients),
        str(report.visits),
        str(report.distinct["diagnoses"]),
        str(report.distinct["procedures"]),
        str(report.distinct["medications"]),
    )
    console.print(counts)
    sizes = Table(title="Set sizes")
    for column in ("per", "mean", "median", "p95", "max"):
        sizes.add_column(column, justify="right" if column != "per" else "left")
    sizes.add_row("visits / patient", *_stats(report.visits_per_patient))
    for kind, hist in report.per_visit.items():
        sizes.add_row(f"{kind} / visit", *_stats(hist))
    console.print(sizes)
    mix = ", ".join(f"{s}: {n}" for s, n in sorted(report.systems.items()))
    console.print(f"Code systems: {mix or '-'}")
    console.print("Top medications: " + ", ".join(f"{m} ({n})" for m, n in report.top_meds))
    if report.filters:
        console.print(_filter_table(report.filters))
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
