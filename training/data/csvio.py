"""Strict CSV input: string columns; every problem an ``InputFileError`` naming file, row, column.

Row numbers are 1-based data rows (the header is row 0), as ``InputFileError`` defines them; they
equal file lines minus one unless a quoted field spans lines.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from app.contract.errors import InputFileError

ICD_PATTERN = r"^[A-Z0-9]{1,8}$"  # app.contract.codes.normalize_code, as a polars regex


def read_strict_csv(
    path: Path, columns: Sequence[str], *, allow_empty: bool = False
) -> pl.DataFrame:
    """Read ``columns`` of ``path`` as strings, with a ``_row`` column (1-based data row).

    Raises:
        InputFileError: if the file is missing, empty, not UTF-8 or lacks one of ``columns``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    header = csv_header(path)
    for column in columns:
        if column not in header:
            raise InputFileError(path, "required column is missing", row=0, column=column)
    try:
        frame = pl.read_csv(
            path,
            columns=list(columns),
            infer_schema=False,
            encoding="utf8",
            row_index_name="_row",
            row_index_offset=1,
        )
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            row, where = _find_bad_encoding(path, header)
            raise InputFileError(path, "not valid UTF-8", row=row, column=where) from None
        row = _find_ragged_row(path, len(header))
        raise InputFileError(
            path, "malformed CSV (wrong field count or quoting)", row=row
        ) from None
    if frame.height == 0 and not allow_empty:
        raise InputFileError(path, "has a header but no data rows", row=1)
    return frame


def csv_header(path: Path) -> list[str]:
    """Return the header of ``path``; raise ``InputFileError`` if it is empty or not UTF-8."""
    with open(path, "rb") as fh:
        first = fh.readline()
    if not first.strip():
        raise InputFileError(path, "empty file", row=0)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(path, "header is not valid UTF-8", row=0) from None
    return [c.strip() for c in next(csv.reader([text]))]


def _find_ragged_row(path: Path, n_columns: int) -> int | None:
    """Return the first data row whose field count differs from the header's, if any."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        row = 0
        try:
            for row, fields in enumerate(reader, start=1):
                if fields and len(fields) != n_columns:
                    return row
        except csv.Error:
            return row + 1
    return None


def _find_bad_encoding(path: Path, header: list[str]) -> tuple[int | None, str | None]:
    """Locate the first line that is not UTF-8 and the column its bad bytes are in."""
    with open(path, "rb") as fh:
        for row, line in enumerate(fh):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                fields = line.split(b",")
                for i, field in enumerate(fields):
                    try:
                        field.decode("utf-8")
                    except UnicodeDecodeError:
                        return row, header[i] if i < len(header) else None
                return row, None
    return None, None


def first_bad_row(frame: pl.DataFrame, invalid: pl.Expr) -> int | None:
    """Return the ``_row`` of the first row where ``invalid`` holds, or ``None``."""
    bad = frame.filter(invalid).select("_row").head(1)
    return int(bad.item()) if bad.height else None


def require_integers(frame: pl.DataFrame, path: Path, columns: Sequence[str]) -> pl.DataFrame:
    """Cast ``columns`` to Int64; a missing or non-integer value raises naming row and column."""
    for column in columns:
        cast = pl.col(column).str.strip_chars().cast(pl.Int64, strict=False)
        row = first_bad_row(frame, cast.is_null())
        if row is not None:
            raise InputFileError(path, "expected an integer id", row=row, column=column)
        frame = frame.with_columns(cast.alias(column))
    return frame


def normalized_codes(frame: pl.DataFrame, path: Path, column: str) -> pl.DataFrame:
    """Normalise an ICD column (no dots, upper case, empty → null); raise on malformed codes."""
    norm = (
        pl.col(column).str.strip_chars().str.replace_all(".", "", literal=True).str.to_uppercase()
    )
    frame = frame.with_columns(pl.when(norm == "").then(None).otherwise(norm).alias(column))
    invalid = pl.col(column).is_not_null() & ~pl.col(column).str.contains(ICD_PATTERN)
    row = first_bad_row(frame, invalid)
    if row is not None:
        raise InputFileError(path, "not a valid ICD-9 code", row=row, column=column)
    return frame
