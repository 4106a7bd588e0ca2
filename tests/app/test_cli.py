from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.admin import create_key, load_ddi_file, register_model, session_scope, upgrade_db
from app.cli import build_cli
from app.crud.api_keys import get_api_key
from app.crud.ddi import count_interactions
from app.crud.vocab import get_all_mappings
from app.settings import Settings, get_settings
from tests.app.factories import write_recommender_artifact


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDREC_HOME", str(tmp_path))
    monkeypatch.delenv("MEDREC_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_db_keys_ddi_models_commands(home: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["db", "upgrade"]).exit_code == 0
    r = runner.invoke(build_cli(), ["keys", "create", "--role", "admin"])
    assert r.exit_code == 0 and r.output.startswith("mr_")
    settings = Settings(_env_file=None, home=home)
    with session_scope(settings) as s:
        key = get_api_key(
            session=s, key=r.output.strip(), pepper=settings.api_key_pepper.get_secret_value()
        )
        assert key is not None and key.role == "admin"
    csv = home / "ddi.csv"
    csv.write_text("atc3_a,atc3_b,types,severity\nB01A,N02B,bleeding,high\n")
    r = runner.invoke(build_cli(), ["ddi", "load", str(csv)])
    assert r.exit_code == 0 and "loaded 1" in r.output
    write_recommender_artifact(home / "art")
    r = runner.invoke(build_cli(), ["models", "register", str(home / "art"), "--activate"])
    assert r.exit_code == 0 and "gamenet v1 (active)" in r.output
    r = runner.invoke(build_cli(), ["keys", "create", "--role", "nurse"])
    assert r.exit_code == 2


def test_bad_ddi_file_names_file_row_and_column(home: Path) -> None:
    csv = home / "bad.csv"
    csv.write_text("atc3_a,atc3_b\nB01A,N02B\nB01A,XX\n")
    r = CliRunner().invoke(build_cli(), ["db", "upgrade"])
    r = CliRunner().invoke(build_cli(), ["ddi", "load", str(csv)])
    assert r.exit_code == 2
    assert f"{csv}: row 2, column 'atc3_b'" in r.output


def test_plain_functions_for_the_demo(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path)
    upgrade_db(settings)
    assert create_key(settings, role="clinician", name="demo").startswith("mr_")
    csv = tmp_path / "d.csv"
    csv.write_text("atc3_a,atc3_b\nB01A,N02B\nC07A,C09A\n")
    assert load_ddi_file(settings, csv) == 2
    assert load_ddi_file(settings, csv) == 2  # idempotent
    with session_scope(settings) as s:
        assert count_interactions(session=s) == 2
    write_recommender_artifact(tmp_path / "a")
    assert register_model(settings, tmp_path / "a", activate=True).status == "active"


def test_without_the_training_extra_training_commands_say_what_to_install(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.cli

    monkeypatch.setattr(app.cli, "TRAINING_CLI", "training.not_installed:register")
    cli = app.cli.build_cli()
    runner = CliRunner()
    for args in (["ingest", "--format", "mimic3"], ["train", "gamenet", "--data", "x"]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 2
        assert "needs the training extra: pip install 'medrec[train]'" in r.output
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0


def test_vocab_load_command_and_its_errors(home: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["db", "upgrade"]).exit_code == 0
    good = home / "map.csv"
    good.write_text("system,code,atc,display\nrxnorm,866924,C07AB02,metoprolol\n")
    r = runner.invoke(build_cli(), ["vocab", "load", str(good)])
    assert r.exit_code == 0 and "loaded 1 code mappings" in r.output
    with session_scope(Settings(_env_file=None, home=home)) as s:
        assert list(get_all_mappings(session=s)) == [("rxnorm", "866924", "C07A", "metoprolol")]
    bad = home / "bad.csv"
    bad.write_text("system,code,atc\nrxnorm,866924,SECRET9\n")
    r = runner.invoke(build_cli(), ["vocab", "load", str(bad)])
    assert r.exit_code == 2 and "row 1, column 'atc'" in r.output and "SECRET9" not in r.output


def test_keys_list_revoke_rotate_commands(home: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["db", "upgrade"]).exit_code == 0
    plaintext = runner.invoke(build_cli(), ["keys", "create", "--role", "clinician"]).output
    [line] = runner.invoke(build_cli(), ["keys", "list"]).output.splitlines()
    key_id = line.split()[0]
    assert "clinician" in line and "used never" in line and line.endswith("active")
    r = runner.invoke(build_cli(), ["keys", "rotate", key_id])
    assert r.exit_code == 0 and r.output.startswith("mr_") and r.output != plaintext
    assert runner.invoke(build_cli(), ["keys", "rotate", key_id]).exit_code == 2  # revoked
    lines = runner.invoke(build_cli(), ["keys", "list"]).output.splitlines()
    assert "revoked" in lines[0] and lines[1].endswith("active")
    new_id = lines[1].split()[0]
    assert runner.invoke(build_cli(), ["keys", "revoke", new_id]).exit_code == 0
    missing = runner.invoke(build_cli(), ["keys", "revoke", "00000000-0000-0000-0000-000000000000"])
    assert missing.exit_code == 2 and "no API key" in missing.output
