"""Helpers shared by the export writers: made-up drug codes and streamed CSV tables."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from training.data.records import Code

ICD_VERSION = {"icd9cm": "9", "icd10cm": "10", "icd9proc": "9", "icd10pcs": "10"}


def _digits(atc3: str) -> str:
    """Six digits, injective over ATC3 classes: letter, two digits, letter."""
    return f"{ord(atc3[0]) - 64:02d}{atc3[1:3]}{ord(atc3[3]) - 64:02d}"


def fake_ndc(atc3: str) -> str:
    """An 11-digit made-up NDC standing for the ATC3 class ``atc3``."""
    return "00000" + _digits(atc3)


def fake_rxcui(atc3: str) -> str:
    """A made-up RxCUI standing for the ATC3 class ``atc3``."""
    return "9" + _digits(atc3)


def atc4_of(atc3: str) -> str:
    """A level-4 ATC code inside ``atc3`` (what real mapping files hold)."""
    return atc3 + "A"


def dotted(code: Code) -> str:
    """The code with the dot that ICD source files and FHIR use (readers strip it again)."""
    c = code.code
    if code.system == "icd9proc":
        return c[:2] + "." + c[2:] if len(c) > 2 else c
    if code.system == "icd9cm" and c.startswith("E"):
        return c[:4] + "." + c[4:] if len(c) > 4 else c
    if code.system in ("icd9cm", "icd10cm"):
        return c[:3] + "." + c[3:] if len(c) > 3 else c
    return c


def check_icd(code: Code) -> str:
    """Return the ICD version (``9``/``10``) of ``code``; ``ValueError`` for other systems."""
    if code.system not in ICD_VERSION:
        raise ValueError(f"writers: code system {code.system!r} has no ICD version")
    return ICD_VERSION[code.system]


def write_atc_map(path: Path, key: str, codes: Iterable[tuple[str, str]]) -> None:
    """Write a ``key,atc4`` mapping CSV from ``(key, atc3)`` pairs."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([key, "atc4"])
        for k, atc3 in sorted(set(codes)):
            writer.writerow([k, atc4_of(atc3)])


class CsvTables:
    """Several CSV files written row by row (bounded memory), opened and closed together."""

    def __init__(self, directory: Path, headers: Mapping[str, Sequence[str]]) -> None:
        """Create ``directory/<name>.csv`` for each table, with its header."""
        directory.mkdir(parents=True, exist_ok=True)
        self._stack = ExitStack()
        self._writers: dict[str, Any] = {}
        for name, header in headers.items():
            fh = self._stack.enter_context(
                open(directory / f"{name}.csv", "w", newline="", encoding="utf-8")
            )
            self._writers[name] = csv.writer(fh)
            self._writers[name].writerow(header)

    def row(self, table: str, *values: object) -> None:
        """Append one row to ``table``."""
        self._writers[table].writerow(["" if v is None else v for v in values])

    def __enter__(self) -> CsvTables:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()
