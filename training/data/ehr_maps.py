"""User-supplied mapping CSVs: drug codes to ATC3 and native codes to ICD.

Formats (all codes read as strings; several values in one cell are ``;``-separated):

- drug → ATC: a key column (``ndc`` or ``rxcui``) and one ATC column, the first present of
  ``atc4``, ``atc5``, ``atc``, ``atc3`` (the shared ``ndc2atc.csv`` fits). Every ATC code is cut to
  its level-3 class; a drug mapping to several classes keeps them all (combination products).
- native code → ICD: a key column (``snomed``) and either ``system,code`` columns or one column
  named after the target system (``icd10cm``, ``icd9cm``, ``icd10pcs``, ``icd9proc``).

Rows with an empty key or an empty target mean "no mapping" and are skipped.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from app.contract.codes import CodeSystem, atc3, normalize_code
from app.contract.errors import InputFileError
from training.data.ehr_io import ROW, read_table
from training.data.records import Code

ATC_COLUMNS = ("atc4", "atc5", "atc", "atc3")
AtcMap = dict[str, tuple[str, ...]]


def load_atc_map(path: Path, key: str) -> AtcMap:
    """Read a ``key → ATC`` mapping CSV as ``{key: (atc3, ...)}``.

    Raises:
        InputFileError: if the key or an ATC column is missing, or an ATC code is malformed.
    """
    header = read_table(path, [key], ATC_COLUMNS, allow_empty=True)
    atc_col = next((c for c in ATC_COLUMNS if header[c].null_count() < header.height), None)
    if atc_col is None:
        raise InputFileError(path, f"needs an ATC column ({', '.join(ATC_COLUMNS)})", column="atc4")
    mapping: dict[str, set[str]] = {}
    for row, raw_key, raw_atc in header.select(ROW, key, atc_col).iter_rows():
        if not raw_key or not raw_key.strip() or not raw_atc or not raw_atc.strip():
            continue
        classes = mapping.setdefault(raw_key.strip(), set())
        for part in raw_atc.split(";"):
            if not part.strip():
                continue
            try:
                classes.add(atc3(part))
            except ValueError:
                raise InputFileError(path, "not an ATC code", row=row, column=atc_col) from None
    return {k: tuple(sorted(v)) for k, v in mapping.items() if v}


def load_code_map(path: Path, key: str) -> dict[str, Code]:
    """Read a native-code → ICD mapping CSV as ``{key: Code(system, code)}``.

    Raises:
        InputFileError: if the columns are missing, a system is unknown or a code is malformed.
    """
    systems = [s.value for s in CodeSystem]
    frame = read_table(path, [key], ["system", "code", *systems], allow_empty=True)
    fixed = next((s for s in systems if frame[s].null_count() < frame.height), None)
    if fixed is None and frame["code"].null_count() == frame.height:
        raise InputFileError(path, "needs system,code columns or a column named after a system")
    mapping: dict[str, Code] = {}
    for row in frame.iter_rows(named=True):
        raw_key = (row[key] or "").strip()
        system = fixed or (row["system"] or "").strip().lower()
        raw_code = row[fixed] if fixed else row["code"]
        if not raw_key or not raw_code or not raw_code.strip():
            continue
        if system not in systems:
            raise InputFileError(path, "unknown code system", row=row[ROW], column="system")
        try:
            code = normalize_code(raw_code)
        except ValueError:
            raise InputFileError(
                path, "not a valid ICD code", row=row[ROW], column=fixed or "code"
            ) from None
        mapping.setdefault(raw_key, Code(system, code))
    return mapping


def map_frame_atc(frame: pl.DataFrame, column: str, mapping: AtcMap) -> pl.DataFrame:
    """Add an ``atc3`` column, one row per mapped class; unmapped rows get a null."""
    keys = list(mapping)
    lookup = pl.DataFrame(
        {column: keys, "atc3": [list(mapping[k]) for k in keys]},
        schema={column: pl.String, "atc3": pl.List(pl.String)},
    )
    return frame.join(lookup, on=column, how="left").explode("atc3")
