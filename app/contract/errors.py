"""Input errors a person can act on, raised by training and reported by the service.

Each names the file, row and column at fault, never a cell value (it may be patient data).
"""

from __future__ import annotations

from pathlib import Path


class InputFileError(ValueError):
    """A user-supplied file is malformed.

    Args:
        path: the file at fault.
        message: what is wrong, without echoing cell values (they may be patient data).
        row: 1-based data row (the header is row 0), when one row is at fault.
        column: the column at fault, when one column is.
    """

    def __init__(
        self, path: Path | str, message: str, *, row: int | None = None, column: str | None = None
    ) -> None:
        self.path = Path(path)
        self.message = message
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.path)
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"InputFileError(path={str(self.path)!r}, row={self.row!r}, column={self.column!r})"


class JobInputError(Exception):
    """A training job's input cannot be used; the message names file, column and filter counts."""
