"""Parsing a DDI table CSV (``atc3_a,atc3_b[,types,severity,source]``) for the knowledge base.

This is the service's own small validator (``app`` must not import ``training``); it accepts the
same format ``training.data.ddi.write_ddi_csv`` writes. Errors name the row and column, never the
cell value.
"""

from __future__ import annotations

import csv
import io
import re

from app.crud.ddi import DdiRow
from app.errors import DdiFileError

REQUIRED = ("atc3_a", "atc3_b")
OPTIONAL = ("types", "severity", "source")
SEVERITIES = ("high", "moderate", "low", "unknown")
_ATC3 = re.compile(r"^[A-Z][0-9]{2}[A-Z]$")
_TYPE = re.compile(r"^[^;\x00-\x1f]{1,128}$")


def parse_ddi_csv(text: str, *, default_source: str) -> list[DdiRow]:
    """Return the validated rows of a DDI CSV; pairs are ordered, duplicates merged.

    Raises:
        DdiFileError: naming the row (1-based, header is row 0) and column at fault.
    """
    try:
        return _parse(text, default_source)
    except csv.Error as exc:
        raise DdiFileError(f"not a valid CSV ({exc})", row=None) from None


def _parse(text: str, default_source: str) -> list[DdiRow]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DdiFileError(f"missing required column(s) {', '.join(missing)}", row=0)
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise DdiFileError(
            "unexpected column(s); allowed: " + ", ".join(REQUIRED + OPTIONAL), row=0
        )
    merged: dict[tuple[str, str, str], DdiRow] = {}
    for n, record in enumerate(reader, start=1):
        if None in record:
            raise DdiFileError("more cells than header columns", row=n)
        row = _parse_row(record, n, default_source)
        key = (row.atc3_a, row.atc3_b, row.source)
        if key in merged:
            old = merged[key]
            types = tuple(sorted(set(old.types) | set(row.types)))
            severity = min(old.severity, row.severity, key=SEVERITIES.index)
            row = DdiRow(row.atc3_a, row.atc3_b, types, severity, row.source)
        merged[key] = row
    return list(merged.values())


def _parse_row(record: dict[str, str | None], n: int, default_source: str) -> DdiRow:
    drugs = []
    for col in REQUIRED:
        value = (record.get(col) or "").strip().upper()
        if not _ATC3.match(value):
            raise DdiFileError("not an ATC level-3 code", row=n, column=col)
        drugs.append(value)
    if drugs[0] == drugs[1]:
        raise DdiFileError("a drug cannot interact with itself", row=n, column="atc3_b")
    types = tuple(t.strip() for t in (record.get("types") or "").split(";") if t.strip())
    if any(not _TYPE.match(t) for t in types):
        raise DdiFileError("interaction type has unexpected characters", row=n, column="types")
    severity = (record.get("severity") or "unknown").strip().lower()
    if severity not in SEVERITIES:
        raise DdiFileError(
            f"severity must be one of {', '.join(SEVERITIES)}", row=n, column="severity"
        )
    source = (record.get("source") or default_source).strip()
    if not source or len(source) > 128:
        raise DdiFileError("source must have 1 to 128 characters", row=n, column="source")
    a, b = sorted(drugs)
    return DdiRow(a, b, tuple(sorted(set(types))), severity, source)
