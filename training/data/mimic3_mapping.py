"""NDC → ATC3 mapping from user-supplied CSVs (``ndc,rxcui`` plus ``ndc,atc4`` or ``rxcui,atc4``).

An NDC is mapped directly when the ATC file has an ``ndc`` column, otherwise (or when the direct
lookup misses) through its RxCUI: NDC → RxCUI (``ndc2rxcui``) → ATC4 (the ATC file's ``rxcui``
column), the route of GAMENet's ``ndc2atc_level4.csv``. Several ATC4 codes may be ``;``-separated;
each becomes an ATC3 class (``atc4[:4]``), or only the first with ``multi_atc="first"``, as GAMENet
keeps one ATC per RxCUI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl

from app.contract.errors import InputFileError
from training.data.csvio import csv_header, first_bad_row, read_strict_csv

ATC_PATTERN = r"^[A-Z][0-9]{2}[A-Z]([A-Z]([0-9]{2})?)?$"  # level 3, 4 or 5


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
    header = csv_header(Path(atc_path))
    keys = [k for k in ("ndc", "rxcui") if k in header]
    if not keys:
        raise InputFileError(atc_path, "needs an 'ndc' or an 'rxcui' column", row=0, column="ndc")
    atc = read_strict_csv(atc_path, [*keys, "atc4"])
    atc = _explode_atc(atc, Path(atc_path), multi_atc)
    parts = []
    if "ndc" in keys:
        parts.append(atc.filter(pl.col("ndc").is_not_null()).select("ndc", "atc3"))
    if "rxcui" in keys and rxcui_path is not None:
        rx = read_strict_csv(rxcui_path, ["ndc", "rxcui"]).drop("_row")
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
    row = first_bad_row(atc, ~pl.col("atc4").str.contains(ATC_PATTERN))
    if row is not None:
        raise InputFileError(path, "not an ATC code of level 3 or deeper", row=row, column="atc4")
    return atc.with_columns(pl.col("atc4").str.slice(0, 4).alias("atc3"))
