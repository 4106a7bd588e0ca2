"""Fresh databases for tests that commit: a SQLite file, or a PostgreSQL schema dropped after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.app.conftest import _pg_schema_url


@contextlib.contextmanager
def fresh_database(like_url: str, tmp: Path) -> Iterator[str]:
    """An empty database of the same backend as ``like_url`` (PostgreSQL: a new schema)."""
    if like_url.startswith("sqlite"):
        yield f"sqlite:///{tmp / 'jobs.db'}"
        return
    schema = _pg_schema_url(tmp)
    url = next(schema)
    try:
        yield url
    finally:
        next(schema, None)  # drops the schema
