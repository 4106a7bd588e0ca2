"""Fixtures every test level may use."""

from __future__ import annotations

from pathlib import Path

import pytest

# The training-job fixtures serve tests/app/jobs and tests/app/crud (the job queue).
pytest_plugins = ["tests.app.job_fixtures"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data in ``../shared/data``; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (needs the ../shared checkout)")
    return SHARED_DATA
