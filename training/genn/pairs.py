"""Typed drug pairs: the input of GENN, read from a CSV of interacting pairs.

Accepted headers (extra columns such as ``severity``, ``source`` or ``edge_id`` are ignored):

- ``drug_a,drug_b[,types]``: the typed-pairs format (Decagon's ``pairs.csv``);
- ``atc3_a,atc3_b[,types,severity,source]``: the DDI table format (``app.contract.ddi_table``);
  :func:`read_pairs` reads it with ``app.contract.ddi_table.read_ddi_csv`` (ATC3 checks, the
  table's own fingerprint), :func:`read_typed_pairs` without those checks.

``types`` holds ``;``-separated type names. A table without a ``types`` column, and a row whose
``types`` cell is empty, give the pair the single type :data:`DEFAULT_TYPE`.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.contract.ddi_table import DdiTable, read_ddi_csv
from app.contract.errors import InputFileError

DEFAULT_TYPE = "interacts"
_DRUG_COLUMNS = (("drug_a", "drug_b"), ("atc3_a", "atc3_b"))


def natural_key(token: str) -> tuple[int, int, str]:
    """Sort key: all-digit tokens numerically first (Decagon's node ids), then the rest as text."""
    return (0, int(token), "") if token.isdigit() else (1, 0, token)


@dataclass(frozen=True)
class TypedPairs:
    """Interacting drug pairs with multi-hot interaction types.

    Args:
        name: the table's name (file stem).
        fingerprint: hex sha256 of the file bytes (of the pairs, for a DDI table).
        drugs: drug names; the index of a drug is its position (sorted by :func:`natural_key`).
        types: type names; label column ``t`` is ``types[t]`` (sorted by :func:`natural_key`).
        pairs: ``[P, 2]`` int64 drug indices with ``pairs[:, 0] < pairs[:, 1]``, in file order.
        labels: ``[P, T]`` float32 multi-hot types.
    """

    name: str
    fingerprint: str
    drugs: tuple[str, ...]
    types: tuple[str, ...]
    pairs: np.ndarray
    labels: np.ndarray

    def describe(self) -> dict[str, object]:
        """Return counts for run.json and reports."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "drugs": len(self.drugs),
            "types": len(self.types),
            "pairs": int(self.pairs.shape[0]),
            "labels": int(self.labels.sum()),
        }


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _columns(path: Path, header: list[str]) -> tuple[str, str, str | None]:
    for a, b in _DRUG_COLUMNS:
        if a in header and b in header:
            return a, b, "types" if "types" in header else None
    missing = "drug_a" if "drug_a" not in header and "atc3_a" not in header else "drug_b"
    raise InputFileError(
        path,
        "missing column (expected drug_a,drug_b[,types] or atc3_a,atc3_b[,types])",
        row=0,
        column=missing,
    )


def _parse_types(path: Path, row: int, cell: str | None) -> tuple[str, ...]:
    if cell is None or not cell.strip():
        return (DEFAULT_TYPE,)
    tokens = [t.strip() for t in cell.split(";")]
    if any(not t for t in tokens):
        raise InputFileError(path, "empty type name in ';'-separated list", row=row, column="types")
    return tuple(dict.fromkeys(tokens))


def from_ddi_table(table: DdiTable) -> TypedPairs:
    """Convert the service's DDI table; an untyped pair gets :data:`DEFAULT_TYPE`.

    The fingerprint is the table's own (``app.contract.ddi_table.ddi_fingerprint``), so a manifest's
    ``ddi_source`` matches what the service computes for the same table.
    """
    rows = [(p.atc3_a, p.atc3_b, p.types or (DEFAULT_TYPE,)) for p in table.pairs]
    if not rows:
        raise ValueError(f"DDI table {table.name!r} has no pairs")
    return _build(table.name, table.fingerprint, rows)


def read_pairs(path: Path) -> TypedPairs:
    """Read a DDI table (``atc3_a,atc3_b,...``, via ``read_ddi_csv``) or typed pairs."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as fh:
        header = [h.strip() for h in next(csv.reader(fh), [])]
    if "atc3_a" in header and "atc3_b" in header:
        return from_ddi_table(read_ddi_csv(path))
    return read_typed_pairs(path)


def read_typed_pairs(path: Path) -> TypedPairs:
    """Read a CSV of typed interacting pairs.

    Raises:
        InputFileError: missing columns, an empty drug cell, a drug paired with itself, a pair
            listed twice (in either order), or an empty name in the ``types`` list; the message
            names the file, row and column and never echoes cell values.
    """
    path = Path(path)
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    seen: set[tuple[str, str]] = set()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise InputFileError(path, "empty file: no header")
        col_a, col_b, col_t = _columns(path, header)
        ia, ib = header.index(col_a), header.index(col_b)
        it = header.index(col_t) if col_t else None
        for row, cells in enumerate(reader, start=1):
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise InputFileError(
                    path, f"expected {len(header)} cells, got {len(cells)}", row=row
                )
            a, b = cells[ia].strip(), cells[ib].strip()
            for col, value in ((col_a, a), (col_b, b)):
                if not value:
                    raise InputFileError(path, "empty drug", row=row, column=col)
            if a == b:
                raise InputFileError(path, "a drug paired with itself", row=row, column=col_b)
            key = (a, b) if natural_key(a) < natural_key(b) else (b, a)
            if key in seen:
                raise InputFileError(path, "pair listed twice", row=row, column=col_b)
            seen.add(key)
            rows.append((*key, _parse_types(path, row, cells[it] if it is not None else None)))
    if not rows:
        raise InputFileError(path, "no pairs")
    return _build(path.stem, _fingerprint(path), rows)


def _build(name: str, fingerprint: str, rows: list[tuple[str, str, tuple[str, ...]]]) -> TypedPairs:
    drugs = tuple(sorted({d for a, b, _ in rows for d in (a, b)}, key=natural_key))
    types = tuple(sorted({t for *_, ts in rows for t in ts}, key=natural_key))
    drug_index = {d: i for i, d in enumerate(drugs)}
    type_index = {t: i for i, t in enumerate(types)}
    pairs = np.array([[drug_index[a], drug_index[b]] for a, b, _ in rows], dtype=np.int64)
    labels = np.zeros((len(rows), len(types)), dtype=np.float32)
    for p, (*_, ts) in enumerate(rows):
        labels[p, [type_index[t] for t in ts]] = 1.0
    return TypedPairs(name, fingerprint, drugs, types, pairs, labels)
