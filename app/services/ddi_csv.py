"""A DDI table CSV (``app.contract.ddi_table``) as rows of the knowledge base.

Errors name the row and column, never the cell value.
"""

from __future__ import annotations

from app.contract.ddi_table import DdiPair, parse_ddi_rows
from app.contract.errors import InputFileError
from app.crud.ddi import DdiRow
from app.errors import DdiFileError


def parse_ddi_csv(text: str, *, default_source: str) -> list[DdiRow]:
    """Return the validated rows of a DDI CSV; pairs are ordered, duplicates merged per source.

    A row without a source takes ``default_source``.

    Raises:
        DdiFileError: naming the row (1-based, header is row 0) and column at fault.
    """
    try:
        pairs = parse_ddi_rows("upload", text)
    except InputFileError as exc:
        raise DdiFileError(exc.message, row=exc.row, column=exc.column) from None
    merged: dict[tuple[str, str, str], DdiPair] = {}
    for pair in pairs:
        source = pair.source or default_source
        key = (*pair.key, source)
        seen = merged.get(key)
        merged[key] = pair if seen is None else seen.merge(pair)
    return [
        DdiRow(p.atc3_a, p.atc3_b, p.types, p.severity, source)
        for (_, _, source), p in merged.items()
    ]
