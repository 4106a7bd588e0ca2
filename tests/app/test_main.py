from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import asgi, create_app
from app.settings import Settings, get_settings


def test_docs_can_be_switched_off(tmp_path: Path) -> None:
    app = create_app(Settings(_env_file=None, home=tmp_path, enable_docs=False))
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}
        # No migrations were run: the service starts, but is not ready.
        assert client.get("/readyz").status_code == 503


def test_asgi_factory_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDREC_HOME", str(tmp_path))
    monkeypatch.setenv("MEDREC_ENABLE_DOCS", "false")
    get_settings.cache_clear()
    try:
        app = asgi()
        assert app.openapi_url is None
    finally:
        get_settings.cache_clear()


@pytest.fixture
def root_logger_at_info() -> Iterator[logging.Logger]:
    """The root logger as the CLI leaves it (``basicConfig`` at INFO), restored afterwards."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield root
    finally:
        root.setLevel(level)


def test_the_log_level_setting_holds_where_logging_was_configured_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root_logger_at_info: logging.Logger
) -> None:
    # `medrec serve --workers 1` builds the app in the CLI's process, already configured.
    monkeypatch.setenv("MEDREC_HOME", str(tmp_path))
    monkeypatch.setenv("MEDREC_LOG_LEVEL", "warning")
    get_settings.cache_clear()
    try:
        asgi()
    finally:
        get_settings.cache_clear()
    assert root_logger_at_info.level == logging.WARNING
    assert not logging.getLogger("medrec.access").isEnabledFor(logging.INFO)
