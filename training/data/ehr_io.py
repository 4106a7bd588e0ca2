"""Reading export tables for the MIMIC-III, MIMIC-IV, OMOP, Synthea and FHIR readers.

Every table is read with polars with all columns as strings (codes keep their leading zeros), header
names lower-cased, and a ``_row`` column holding the 1-based data row (the header is row 0), so that
any later check can name the file, the row and the column at fault.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from app.contract.errors import InputFileError

ROW = "_row"
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")


def find_table(
    directory: Path, name: str, *, suffixes: Sequence[str] = TABLE_SUFFIXES
) -> Path | None:
    """Return the file holding table ``name`` in ``directory`` (any case, any suffix), if any."""
    if not directory.is_dir():
        return None
    wanted = {name.lower() + s for s in suffixes}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.name.lower() in wanted:
            return path
    return None


def require_table(directory: Path, name: str, *, suffixes: Sequence[str] = TABLE_SUFFIXES) -> Path:
    """Return the file of table ``name``; raises ``InputFileError`` naming the missing table."""
    path = find_table(directory, name, suffixes=suffixes)
    if path is None:
        others = f" (nor {', '.join(suffixes[1:])})" if len(suffixes) > 1 else ""
        raise InputFileError(
            directory / f"{name}{suffixes[0]}", f"required table is missing{others}"
        )
    return path


def read_table(
    path: Path,
    required: Iterable[str],
    optional: Iterable[str] = (),
    *,
    allow_empty: bool = False,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Read ``path`` (CSV, gzip CSV or Parquet) as strings with a row index.

    Header names match in any case; the frame's columns are named as the caller spells them (and
    errors name them so). Only the ``required`` and present ``optional`` columns are kept; missing
    optional columns are added as nulls. Comma and tab separated files are both accepted (OMOP
    vocabularies use tabs).

    ``where`` (over the kept columns, as strings) keeps only the rows it holds for: the file is
    then scanned lazily, so only those rows reach memory, and the row index still counts every
    data row of the file. Such a read may be empty.

    Raises:
        InputFileError: if the file is empty, not UTF-8, unparsable, lacks a required column, or has
            no data rows (unless ``allow_empty``).
    """
    required = list(required)
    optional = [c for c in optional if c not in required]
    header = header_columns(path)
    for column in required:
        if column.lower() not in header:
            raise InputFileError(path, "required column is missing", row=0, column=column)
    present = [c for c in optional if c.lower() in header]
    wanted = required + present
    columns = [header.index(c.lower()) for c in wanted]
    if where is None:
        frame = _read_raw(path, columns)
        frame = frame.rename(dict(zip(frame.columns, wanted, strict=True)))
        if frame.height == 0 and not allow_empty:
            raise InputFileError(path, "the table has a header but no data rows", row=1)
        frame = frame.select([pl.col(c).cast(pl.String) for c in wanted]).with_row_index(
            ROW, offset=1
        )
    else:
        frame = _scan_raw(path, columns, wanted, where)
    frame = frame.with_columns(
        [pl.lit(None, dtype=pl.String).alias(c) for c in optional if c not in present]
    )
    return frame.select(ROW, *wanted, *(c for c in optional if c not in present))


def header_columns(path: Path) -> list[str]:
    """Return the lower-cased column names of a table file, in file order.

    Raises:
        InputFileError: if the file is empty or its header cannot be read.
    """
    return [n.lower() for n in _header(path)]


def _header(path: Path) -> list[str]:
    """The column names of a table file as written (stripped, without a byte-order mark)."""
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        if path.name.lower().endswith(".parquet"):
            names = list(pl.read_parquet_schema(path))
        else:
            line = _first_line(path).decode("utf-8")
            names = next(csv.reader([line], delimiter=_separator(line)), [])
    except UnicodeDecodeError:
        raise InputFileError(path, "the header is not valid UTF-8", row=0) from None
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise InputFileError(path, f"the file cannot be read ({type(exc).__name__})") from None
    if not names or names == [""]:
        raise InputFileError(path, "empty file", row=0)
    return [n.strip().lstrip("\ufeff") for n in names]


def _read_raw(path: Path, columns: list[int]) -> pl.DataFrame:
    """Read only the ``columns`` (by position) of ``path``, every value as a string."""
    try:
        if path.name.lower().endswith(".parquet"):
            return pl.read_parquet(path, columns=columns)
        separator = _separator(_first_line(path).decode("utf-8"))
        return pl.read_csv(
            path,
            columns=columns,
            infer_schema=False,
            separator=separator,
            quote_char='"',
            encoding="utf8",
        )
    except pl.exceptions.NoDataError:
        raise InputFileError(path, "empty file", row=0) from None
    except (pl.exceptions.ComputeError, OSError) as exc:
        if path.name.lower().endswith(".parquet"):
            raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None
        row, column, reason = _locate_bad_row(path)
        raise InputFileError(path, reason, row=row, column=column) from None


def _scan_raw(path: Path, columns: list[int], names: list[str], where: pl.Expr) -> pl.DataFrame:
    """The rows of ``path`` where ``where`` holds, scanned lazily (see :func:`read_table`).

    A gzip CSV cannot be scanned; it is read whole, then filtered.
    """
    lower = path.name.lower()
    if lower.endswith(".gz"):
        lazy = _read_raw(path, columns).lazy()
    elif lower.endswith(".parquet"):
        lazy = pl.scan_parquet(path)
    else:
        separator = _separator(_first_line(path).decode("utf-8"))
        lazy = pl.scan_csv(
            path, infer_schema=False, separator=separator, quote_char='"', encoding="utf8"
        )
    header = _header(path)
    typed = [
        pl.col(header[i]).cast(pl.String).alias(n) for i, n in zip(columns, names, strict=True)
    ]
    lazy = lazy.select(typed).with_row_index(ROW, offset=1)
    try:
        return lazy.filter(where).collect(engine="streaming")
    except pl.exceptions.NoDataError:
        raise InputFileError(path, "empty file", row=0) from None
    except (pl.exceptions.ComputeError, OSError) as exc:
        if lower.endswith(".parquet"):
            raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None
        row, column, reason = _locate_bad_row(path)
        raise InputFileError(path, reason, row=row, column=column) from None


def _locate_bad_row(path: Path) -> tuple[int | None, str | None, str]:
    """Find the data row (and column) that made a CSV unparsable: bad UTF-8 or ragged fields."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    header = _header(path)
    separator = _separator(_first_line(path).decode("utf-8"))
    with opener(path, "rb") as fh:
        for row, line in enumerate(fh):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                fields = line.split(separator.encode())
                bad = [i for i, f in enumerate(fields) if not _is_utf8(f) and i < len(header)]
                return row, header[bad[0]] if bad else None, "not valid UTF-8"
    with opener(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text, delimiter=separator, strict=True)
        next(reader, None)
        row = 0
        try:
            for row, cells in enumerate(reader, start=1):
                if cells and len(cells) > len(header):
                    return (
                        row,
                        None,
                        f"wrong field count ({len(cells)}, the header has {len(header)})",
                    )
        except csv.Error:
            return row + 1, None, "malformed quoting"
    return None, None, "cannot be parsed as CSV"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _first_line(path: Path) -> bytes:
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.readline().rstrip(b"\r\n")
    with open(path, "rb") as fh:
        return fh.readline().rstrip(b"\r\n")


def _separator(header: str) -> str:
    return "\t" if header.count("\t") > header.count(",") else ","


def fail_first(frame: pl.DataFrame, bad: pl.Expr, path: Path, column: str, message: str) -> None:
    """Raise ``InputFileError`` at the first row of ``frame`` where ``bad`` holds, if any."""
    hits = frame.filter(bad)
    if hits.height:
        raise InputFileError(path, message, row=int(hits[ROW][0]), column=column)


def require_values(frame: pl.DataFrame, path: Path, columns: Iterable[str]) -> None:
    """Raise ``InputFileError`` at the first empty cell of any of ``columns``."""
    for column in columns:
        col = pl.col(column)
        fail_first(
            frame, col.is_null() | (col.str.strip_chars() == ""), path, column, "empty value"
        )


def check_pattern(
    frame: pl.DataFrame, path: Path, column: str, pattern: str, what: str, *, shown: str = ""
) -> None:
    """Raise ``InputFileError`` at the first non-null ``column`` value not matching ``pattern``.

    ``shown`` is the source column to name when ``column`` was derived from it.
    """
    col = pl.col(column)
    bad = col.is_not_null() & ~col.str.contains(pattern)
    fail_first(frame, bad, path, shown or column, f"not a valid {what}")


def normalized_code(column: str) -> pl.Expr:
    """Expression normalising a code column as ``codes.normalize_code`` does (no dots, upper)."""
    return (
        pl.col(column).str.strip_chars().str.replace_all(".", "", literal=True).str.to_uppercase()
    )


ICD_PATTERN = r"^[A-Z0-9]{1,8}$"
SNOMED_PATTERN = r"^[0-9]{6,18}$"
ATC_PATTERN = r"^[A-Z][0-9]{2}[A-Z]([A-Z]([0-9]{2})?)?$"


def is_atc(code: str) -> bool:
    """Return whether ``code`` is an ATC code of level 3, 4 or 5."""
    return re.match(ATC_PATTERN, code) is not None
