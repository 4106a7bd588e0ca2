from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.admin import alembic_config
from app.db.base import Base
from app.settings import Settings

from ..conftest import _pg_schema_url

TABLES = {"model_versions", "ddi_interactions", "api_keys", "audit_events"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.db)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        yield from _pg_schema_url(tmp_path)


def test_upgrade_matches_models_then_downgrade_to_base(empty_db: str, tmp_path: Path) -> None:
    cfg = alembic_config(Settings(_env_file=None, home=tmp_path, database_url=empty_db))
    command.upgrade(cfg, "head")
    engine = sa.create_engine(empty_db)
    with engine.connect() as conn:
        assert TABLES <= set(sa.inspect(conn).get_table_names())
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    command.downgrade(cfg, "base")
    with engine.connect() as conn:
        assert not TABLES & set(sa.inspect(conn).get_table_names())
    engine.dispose()
