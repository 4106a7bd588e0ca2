"""User-supplied mapping CSVs: drug codes to ATC3 and native codes to ICD.

Formats (all codes read as strings; several values in one cell are ``;``-separated):

- drug → ATC: a key column (``ndc`` or ``rxcui``) and one ATC column, the first present of
  ``atc4``, ``atc5``, ``atc``, ``atc3`` (the shared ``ndc2atc.csv`` fits). Every ATC code is cut to
  its level-3 class; a drug mapping to several classes keeps them all (combination products).
- NDC → ATC3 for the MIMIC readers (:func:`load_ndc_to_atc3`): ``ndc,rxcui`` plus ``ndc,atc4`` or
  ``rxcui,atc4``. An NDC is mapped directly when the ATC file has an ``ndc`` column, otherwise (or
  when the direct lookup misses) through its RxCUI, the route of GAMENet's ``ndc2atc_level4.csv``;
  with ``multi_atc="first"`` only an NDC's first ATC4 code counts, as GAMENet keeps one per RxCUI.
- native code → ICD: a key column (``snomed``) and either ``system,code`` columns or one column
  named after the target system (``icd10cm``, ``icd9cm``, ``icd10pcs``, ``icd9proc``).

Rows with an empty key or an empty target mean "no mapping" and are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl

from app.contract.codes import CodeSystem, atc3, normalize_code
from app.contract.errors import InputFileError
from training.data.ehr_io import ATC_PATTERN, ROW, check_pattern, header_columns, read_table
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


def load_ndc_to_atc3(
    atc_path: Path,
    rxcui_path: Path | None,
    *,
    multi_atc: Literal["all", "first"] = "all",
) -> pl.DataFrame:
    """Return the distinct ``(ndc, atc3)`` pairs the mapping files define.

    Raises:
        InputFileError: if a file lacks the needed columns or holds a malformed ATC code.
    """
    keys = [k for k in ("ndc", "rxcui") if k in header_columns(atc_path)]
    if not keys:
        raise InputFileError(atc_path, "needs an 'ndc' or an 'rxcui' column", row=0, column="ndc")
    atc = _explode_atc(read_table(atc_path, [*keys, "atc4"]), atc_path, multi_atc)
    parts = []
    if "ndc" in keys:
        parts.append(atc.filter(pl.col("ndc").is_not_null()).select("ndc", "atc3"))
    if "rxcui" in keys and rxcui_path is not None:
        rx = read_table(rxcui_path, ["ndc", "rxcui"]).drop(ROW)
        by_rx = atc.filter(pl.col("rxcui").is_not_null()).select("rxcui", "atc3")
        via = rx.filter(pl.col("rxcui").is_not_null()).join(by_rx, on="rxcui").select("ndc", "atc3")
        if parts:
            via = via.join(parts[0].select("ndc").unique(), on="ndc", how="anti")
        parts.append(via)
    elif "ndc" not in keys:
        raise InputFileError(atc_path, "maps RxCUIs: an ndc,rxcui mapping is needed too")
    return (
        pl.concat(parts).with_columns(pl.col("ndc").str.strip_chars()).unique(maintain_order=True)
    )


def _explode_atc(atc: pl.DataFrame, path: Path, multi_atc: str) -> pl.DataFrame:
    split = pl.col("atc4").str.strip_chars().str.to_uppercase().str.split(";")
    if multi_atc == "first":
        split = split.list.head(1)
    atc = atc.filter(pl.col("atc4").is_not_null() & (pl.col("atc4").str.strip_chars() != ""))
    atc = atc.with_columns(split.alias("atc4")).explode("atc4")
    atc = atc.with_columns(pl.col("atc4").str.strip_chars()).filter(pl.col("atc4") != "")
    check_pattern(atc, path, "atc4", ATC_PATTERN, "ATC code of level 3 or deeper")
    return atc.with_columns(pl.col("atc4").str.slice(0, 4).alias("atc3"))
