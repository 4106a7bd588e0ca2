from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_database_defaults_to_sqlite_under_home(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'medrec.db'}"
    assert settings.is_sqlite
    assert settings.max_body_bytes == 1 << 20


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDREC_MAX_VISITS", "7")
    monkeypatch.setenv("MEDREC_DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = Settings(_env_file=None)
    assert settings.max_visits == 7
    assert not settings.is_sqlite


def test_production_refuses_the_placeholder_pepper() -> None:
    with pytest.raises(ValidationError, match="PEPPER"):
        Settings(_env_file=None, environment="production")
    Settings(_env_file=None, environment="production", api_key_pepper="a-real-secret")


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, not_a_setting=1)


def test_the_readme_lists_every_setting_as_the_class_has_it() -> None:
    from pathlib import Path

    from app.settings import settings_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- settings-table:start -->\n")[1].split(
        "\n<!-- settings-table:end -->"
    )[0]
    assert block == settings_table(), "run `python -m app.settings` and paste the table"
