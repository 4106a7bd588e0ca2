"""The compose file and the images, checked against the settings class (no Docker engine here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def _resolved(value: str) -> str:
    """``${NAME:?message}`` placeholders as a deployment would fill them."""
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: f"example-{m.group(1).lower()}", value)


def test_services_start_in_order_on_a_healthy_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]  # a named volume, not a bind mount
    assert services["migrate"]["command"] == ["medrec", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services["api"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["api"]["command"] == ["medrec", "serve", "--no-migrate"]
    assert services["worker"]["command"] == ["medrec", "worker"]


def test_every_medrec_variable_is_a_setting_with_a_valid_value(compose: dict[str, Any]) -> None:
    fields = {f"MEDREC_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        env = {k: _resolved(v) for k, v in _env(service).items() if k.startswith("MEDREC_")}
        assert set(env) <= fields, f"{name}: not settings: {set(env) - fields}"
        if env:
            settings = Settings(
                _env_file=None, **{k.removeprefix("MEDREC_").lower(): v for k, v in env.items()}
            )
            assert settings.database_url.startswith("postgresql+psycopg://")
            assert settings.environment == "production"
            assert settings.rate_limit_redis_url == "redis://redis:6379/0"


def test_the_api_runs_two_workers_without_the_job_worker_on_its_port(
    compose: dict[str, Any],
) -> None:
    api = compose["services"]["api"]
    env = _env(api)
    assert int(env["MEDREC_WORKERS"]) >= 2
    assert env["MEDREC_EMBEDDED_WORKER"] == "false"
    [mapping] = api["ports"]
    assert mapping.split(":")[-1] == env["MEDREC_PORT"]
    assert f"EXPOSE {env['MEDREC_PORT']}" in (DOCKER / "serve.Dockerfile").read_text()


def test_api_and_worker_share_artifacts_at_the_same_path(compose: dict[str, Any]) -> None:
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert _env(api)["MEDREC_HOME"] == _env(worker)["MEDREC_HOME"]
    mounts = {v.split(":")[1] for v in api["volumes"]} & {
        v.split(":")[1] for v in worker["volumes"]
    }
    assert _env(api)["MEDREC_HOME"] in mounts


def test_the_serve_image_has_no_training_code_and_runs_as_a_user() -> None:
    text = (DOCKER / "serve.Dockerfile").read_text()
    copied = re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M)
    assert not {"training", "models"} & {c.rstrip("/") for c in copied}
    assert re.search(r"^USER (?!root|0\b)\S+", text, flags=re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "MEDREC_EMBEDDED_WORKER=false" in text
    assert text.count("FROM ") >= 2  # multi-stage: the build tools stay out of the runtime
    assert "-r /tmp/serve.txt" in text


def _canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_images_install_from_lock_files_that_cover_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for lock, deps in (
        ("serve.txt", project["dependencies"]),
        ("train.txt", project["dependencies"] + project["optional-dependencies"]["train"]),
    ):
        pinned = {
            _canonical(re.split(r"[=\s]", line)[0])
            for line in (DOCKER / "requirements" / lock).read_text().splitlines()
            if line and not line.startswith(("#", " "))
        }
        wanted = {_canonical(re.split(r"[\[<>=~!\s]", d)[0]) for d in deps}
        assert wanted <= pinned, f"{lock} misses {wanted - pinned}"
    train = (DOCKER / "requirements" / "train.txt").read_text()
    [torch_pin] = [d for d in project["optional-dependencies"]["train"] if d.startswith("torch==")]
    assert re.search(rf"^torch=={re.escape(torch_pin.split('==')[1])}\+cpu\b", train, flags=re.M)
    assert "nvidia" not in train
    assert "-r /tmp/train.txt" in (DOCKER / "train.Dockerfile").read_text()
