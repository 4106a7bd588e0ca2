"""Known drug-drug interactions between ATC level-3 classes, and their CSV form.

The CSV has a header and the columns ``atc3_a,atc3_b[,types,severity,source]``:

- ``atc3_a``, ``atc3_b``: two distinct ATC3 classes (4 characters, e.g. ``N02B``), in any order;
- ``types``: interaction types separated by ``;`` (optional, may be empty);
- ``severity``: ``high``, ``moderate``, ``low`` or ``unknown`` (optional, empty means ``unknown``);
- ``source``: where the entry comes from, e.g. ``TWOSIDES`` (optional, may be empty).

A pair without types keeps ``types == ()``: the table records what the source says, and consumers
decide what an untyped interaction means (the DDI graph treats every pair as an edge; the service
may call it "interacts"). Pairs are unordered: the reader stores ``atc3_a < atc3_b`` and merges
duplicate pairs (see :meth:`DdiTable.from_pairs`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from app.contract.codes import atc3
from app.contract.errors import InputFileError

SEVERITIES = ("high", "moderate", "low", "unknown")  # most to least severe
REQUIRED_COLUMNS = ("atc3_a", "atc3_b")
OPTIONAL_COLUMNS = ("types", "severity", "source")
MAX_SOURCE_CHARS = 128
_TYPE = re.compile(r"^[^;\x00-\x1f]{1,128}$")  # no separator, no control characters


def _atc3_class(raw: str) -> str:
    """Return ``raw`` as an ATC3 class; raises ``ValueError`` unless it is exactly one."""
    code = atc3(raw)
    if code != raw.strip().upper():
        raise ValueError("not an ATC level-3 class (4 characters, e.g. N02B)")
    return code


@dataclass(frozen=True)
class DdiPair:
    """One known interaction between two ATC3 classes.

    Construction normalises the pair: codes are upper-cased, swapped so that ``atc3_a < atc3_b``,
    and ``types`` become sorted and distinct.

    Args:
        atc3_a: one ATC3 class.
        atc3_b: the other ATC3 class (must differ from ``atc3_a``).
        types: interaction types; empty when the source gives none.
        severity: one of ``high``, ``moderate``, ``low``, ``unknown``.
        source: provenance of the entry (may be empty).

    Raises:
        ValueError: for a code that is not an ATC3 class, a self-pair, an unknown severity or
            a type containing ``;``.
    """

    atc3_a: str
    atc3_b: str
    types: tuple[str, ...] = ()
    severity: str = "unknown"
    source: str = ""

    def __post_init__(self) -> None:
        a, b = _atc3_class(self.atc3_a), _atc3_class(self.atc3_b)
        if a == b:
            raise ValueError("an interaction needs two different ATC3 classes")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        if any(";" in t for t in self.types):
            raise ValueError("an interaction type cannot contain ';' (the CSV separator)")
        a, b = min(a, b), max(a, b)
        object.__setattr__(self, "atc3_a", a)
        object.__setattr__(self, "atc3_b", b)
        object.__setattr__(self, "types", tuple(sorted({t.strip() for t in self.types} - {""})))

    @property
    def key(self) -> tuple[str, str]:
        """The unordered pair as ``(atc3_a, atc3_b)`` with ``atc3_a < atc3_b``."""
        return (self.atc3_a, self.atc3_b)

    def merge(self, other: DdiPair) -> DdiPair:
        """Merge a duplicate entry: union of types and sources, the highest known severity."""
        if other.key != self.key:
            raise ValueError("can only merge entries of the same pair")
        severity = min(self.severity, other.severity, key=SEVERITIES.index)
        sources = sorted({s for p in (self, other) for s in p.source.split(";")} - {""})
        return DdiPair(*self.key, self.types + other.types, severity, ";".join(sources))


def ddi_fingerprint(pairs: Iterable[DdiPair]) -> str:
    """Return the sha256 of the canonical JSON serialisation of sorted, merged ``pairs``."""
    canonical = [[p.atc3_a, p.atc3_b, list(p.types), p.severity, p.source] for p in pairs]
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _merged(pairs: Iterable[DdiPair]) -> tuple[DdiPair, ...]:
    by_key: dict[tuple[str, str], DdiPair] = {}
    for pair in pairs:
        seen = by_key.get(pair.key)
        by_key[pair.key] = pair if seen is None else seen.merge(pair)
    return tuple(by_key[k] for k in sorted(by_key))


@dataclass(frozen=True)
class DdiTable:
    """A named, fingerprinted set of known interactions, sorted by pair, one entry per pair.

    Construct with :meth:`from_pairs`. Direct construction also normalises: pairs are merged and
    sorted, and an empty ``fingerprint`` is filled in; a non-empty one must match the content.
    The fingerprint covers the pairs only, not the name.

    Args:
        name: a label for reports and manifests (e.g. the file stem).
        fingerprint: :func:`ddi_fingerprint` of ``pairs``.
        pairs: the interactions.
    """

    name: str
    fingerprint: str
    pairs: tuple[DdiPair, ...]
    _index: dict[tuple[str, str], DdiPair] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = _merged(self.pairs)
        fingerprint = ddi_fingerprint(pairs)
        if self.fingerprint and self.fingerprint != fingerprint:
            raise ValueError("DdiTable: fingerprint does not match the pairs")
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "fingerprint", fingerprint)
        object.__setattr__(self, "_index", {p.key: p for p in pairs})

    @classmethod
    def from_pairs(cls, pairs: Iterable[DdiPair], *, name: str) -> DdiTable:
        """Build a table, merging duplicate pairs (see :meth:`DdiPair.merge`)."""
        return cls(name=name, fingerprint="", pairs=tuple(pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def get(self, a: str, b: str) -> DdiPair | None:
        """Return the entry for the unordered pair ``{a, b}``, or ``None`` when none is known."""
        key = (a, b) if a < b else (b, a)
        return self._index.get(key)

    def classes(self) -> tuple[str, ...]:
        """Return the distinct ATC3 classes that appear in some pair, sorted."""
        return tuple(sorted({c for p in self.pairs for c in p.key}))


def _decode(path: Path | str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = data[: err.start].count(b"\n")  # the header is row 0
        raise InputFileError(path, "not UTF-8 text", row=row) from None


def _check_header(path: Path | str, header: list[str]) -> list[str]:
    columns = [c.strip().lower() for c in header]
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            raise InputFileError(path, "missing required column", row=0, column=name)
    for name in columns:
        if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            raise InputFileError(path, "unknown column", row=0, column=name)
        if columns.count(name) > 1:
            raise InputFileError(path, "duplicate column", row=0, column=name)
    return columns


def _parse_row(path: Path | str, row: int, columns: list[str], cells: list[str]) -> DdiPair:
    if len(cells) != len(columns):
        raise InputFileError(path, f"expected {len(columns)} fields, got {len(cells)}", row=row)
    rec = dict(zip(columns, cells, strict=True))
    codes = []
    for name in REQUIRED_COLUMNS:
        try:
            codes.append(_atc3_class(rec[name]))
        except ValueError as err:
            raise InputFileError(path, str(err), row=row, column=name) from None
    if codes[0] == codes[1]:
        raise InputFileError(path, "self-pair: both classes are the same", row=row, column="atc3_b")
    severity = rec.get("severity", "").strip().lower() or "unknown"
    if severity not in SEVERITIES:
        msg = f"severity must be one of {', '.join(SEVERITIES)}"
        raise InputFileError(path, msg, row=row, column="severity")
    types = tuple(t.strip() for t in rec.get("types", "").split(";") if t.strip())
    if not all(_TYPE.match(t) for t in types):
        raise InputFileError(
            path, "interaction type has unexpected characters", row=row, column="types"
        )
    source = rec.get("source", "").strip()
    if len(source) > MAX_SOURCE_CHARS:
        msg = f"source has more than {MAX_SOURCE_CHARS} characters"
        raise InputFileError(path, msg, row=row, column="source")
    return DdiPair(codes[0], codes[1], types, severity, source)


def parse_ddi_rows(path: Path | str, text: str) -> list[DdiPair]:
    """Return the validated rows of DDI CSV ``text``, in file order, not merged.

    ``path`` only names the input in errors (a file, or a label such as an upload's name).
    Blank lines are skipped.

    Raises:
        InputFileError: naming ``path``, row and column, for an empty text, malformed CSV, a
            missing, unknown or repeated column, a wrong field count, a code that is not an ATC3
            class, a self-pair, an unknown severity, a bad type or source, or no pair at all.
    """
    reader = csv.reader(io.StringIO(text))
    pairs = []
    try:
        header = next(reader, None)
        if header is None or not any(c.strip() for c in header):
            raise InputFileError(path, "empty file: expected a header atc3_a,atc3_b[,...]", row=0)
        columns = _check_header(path, header)
        for cells in reader:
            if any(c.strip() for c in cells):
                pairs.append(_parse_row(path, reader.line_num - 1, columns, cells))
    except csv.Error as err:
        raise InputFileError(path, f"malformed CSV ({err})", row=reader.line_num - 1) from None
    if not pairs:
        raise InputFileError(path, "no interaction rows after the header", row=1)
    return pairs


def read_ddi_csv(path: Path, *, name: str | None = None) -> DdiTable:
    """Read an interaction table from a CSV file (see the module docstring for the columns).

    Duplicate pairs (in either order) are merged.

    Args:
        path: the CSV file (UTF-8, optional BOM).
        name: the table's name; defaults to the file stem.

    Raises:
        InputFileError: naming the file, row and column: an unreadable file, undecodable bytes,
            or any error of :func:`parse_ddi_rows`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputFileError(path, f"cannot read the file ({err.strerror})") from None
    pairs = parse_ddi_rows(path, _decode(path, data))
    return DdiTable.from_pairs(pairs, name=path.stem if name is None else name)


def write_ddi_csv(table: DdiTable, path: Path) -> None:
    """Write ``table`` as CSV with all five columns, atomically (temporary file, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
            for p in table.pairs:
                writer.writerow([p.atc3_a, p.atc3_b, ";".join(p.types), p.severity, p.source])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
