"""A medication code map CSV as rows of ``vocab_mappings``.

Two layouts are read (header names are case-insensitive):

- **long**: ``system,code,atc[,display]``, ``system`` one of ``rxnorm``, ``ndc``, ``atc``. An
  ``atc`` row with a ``display`` names that ATC class (``atc,C07A,C07A,Beta blocking agents``);
  the display of a recommended class is the display of its ATC3 row.
- **wide**: an ``ndc`` and/or an ``rxcui`` column with an ``atc``, ``atc4`` or ``atc5`` column,
  as in the GAMENet / ndc_map files (``ndc,atc4,atc5,rxcui,match``). Each key column gives one
  map; a row with an empty key or ATC cell maps nothing.

An ATC cell may hold several codes separated by ``;`` (combination products): the code maps to
each of their ATC3 classes. Errors name the row (1-based; the header is row 0) and column,
never the cell value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from app.contract.codes import MEDICATION_SYSTEMS, atc3, normalize_medication
from app.crud.vocab import VocabRow
from app.errors import VocabFileError

_WIDE_KEYS = {"ndc": "ndc", "rxcui": "rxnorm"}
_ATC_COLUMNS = ("atc", "atc4", "atc5")
_MAX_DISPLAY = 256


def parse_vocab_csv(text: str) -> list[VocabRow]:
    """Return the validated rows of a code map CSV (either layout).

    Raises:
        VocabFileError: naming the row and column at fault.
    """
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if not header:
        raise VocabFileError("empty file", row=0)
    if {"system", "code", "atc"} <= set(header):
        return _long(reader, header)
    keys = [k for k in _WIDE_KEYS if k in header]
    atc_column = next((c for c in _ATC_COLUMNS if c in header), None)
    if not keys or atc_column is None:
        raise VocabFileError(
            "needs columns system,code,atc or an ndc/rxcui column and an atc/atc4/atc5 column",
            row=0,
        )
    return _wide(reader, header, keys, atc_column)


def _data_rows(reader: Iterator[list[str]], header: list[str]) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows, numbered from 1 (the header is row 0), each of the header's width."""
    for n, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise VocabFileError(f"expected {len(header)} fields", row=n)
        yield n, cells


def _long(reader: Iterator[list[str]], header: list[str]) -> list[VocabRow]:
    at = {name: header.index(name) for name in ("system", "code", "atc")}
    display_at = header.index("display") if "display" in header else None
    rows = []
    for n, cells in _data_rows(reader, header):
        system = cells[at["system"]].strip().lower()
        if system not in MEDICATION_SYSTEMS:
            raise VocabFileError(f"system must be one of {', '.join(MEDICATION_SYSTEMS)}",
                                 row=n, column="system")  # fmt: skip
        code = _code(system, cells[at["code"]], n, "code")
        display = None if display_at is None else (cells[display_at].strip()[:_MAX_DISPLAY] or None)
        rows += [VocabRow(system, code, c, display) for c in _classes(cells[at["atc"]], n, "atc")]
    return rows


def _wide(
    reader: Iterator[list[str]], header: list[str], keys: list[str], atc_column: str
) -> list[VocabRow]:
    atc_at = header.index(atc_column)
    rows = []
    for n, cells in _data_rows(reader, header):
        classes = _classes(cells[atc_at], n, atc_column)
        for key in keys:
            raw = cells[header.index(key)]
            if raw.strip() and classes:
                code = _code(_WIDE_KEYS[key], raw, n, key)
                rows += [VocabRow(_WIDE_KEYS[key], code, c) for c in classes]
    return rows


def _code(system: str, raw: str, row: int, column: str) -> str:
    try:
        return normalize_medication(system, raw)
    except ValueError as exc:
        raise VocabFileError(str(exc), row=row, column=column) from None


def _classes(cell: str, row: int, column: str) -> tuple[str, ...]:
    try:
        return tuple(sorted({atc3(p) for p in cell.split(";") if p.strip()}))
    except ValueError as exc:
        raise VocabFileError(str(exc), row=row, column=column) from None
