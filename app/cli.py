"""The ``medrec`` command line: its one composition root, torch-free.

The service's commands (``serve``, ``keys``, ``ddi``, ``vocab``, ``models``, ``db``, ``worker``,
``train --from``, ``demo``) are defined here and run on the base install. The training commands
(``synth``, ``ingest``, ``data``, ``export``, ``genn``, ``train gamenet|gbert|genn``) are added
by the training side's entry point (``app.contract.entry_points.TRAINING_CLI``), loaded by name;
where the training extra is not installed they say so in one line. Heavy modules (alembic,
onnxruntime, torch) are imported inside the commands, so ``medrec --help`` stays fast.

Examples::

    medrec db upgrade
    medrec keys create --role admin --name ops
    medrec ddi load ../shared/data/ddi/atc3_ddi_twosides.csv
    medrec vocab load ../shared/data/mappings/ndc2atc.csv
    medrec models register var/artifacts/gamenet-v1 --activate
    medrec serve --workers 2
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from app import demo
from app.contract.entry_points import TRAIN_EXTRA, TRAINING_CLI, TRAINING_COMMANDS
from app.contract.errors import InputFileError
from app.contract.names import MODEL_NAMES
from app.errors import MedRecError
from app.jobs import cli as jobs_cli
from app.plugins import TrainingNotInstalled, load_entry_point
from app.settings import Settings, get_settings

serve_app = typer.Typer(help="Run the service.")
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
ddi_app = typer.Typer(help="The DDI knowledge base.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
vocab_app = typer.Typer(help="Medication code maps (RxNorm, NDC -> ATC).", no_args_is_help=True)


def _fail(exc: MedRecError) -> None:
    typer.echo(f"error: {exc.detail}", err=True)
    raise typer.Exit(2)


def serve(
    host: str | None = typer.Option(None, help="Default: MEDREC_HOST."),
    port: int | None = typer.Option(None, help="Default: MEDREC_PORT."),
    workers: int | None = typer.Option(None, help="Default: MEDREC_WORKERS."),
    migrate: bool = typer.Option(
        True,
        help="Apply pending migrations first (--no-migrate where `medrec db upgrade` runs once).",
    ),
) -> None:
    """Apply pending migrations (unless --no-migrate), then serve what is registered."""
    import uvicorn

    from app import admin
    from app.supervisor import APP_OPTIONS, supervise

    settings = get_settings()
    if migrate:
        admin.upgrade_db(settings)
    workers = workers or settings.workers
    host, port = host or settings.host, port or settings.port
    if workers > 1:  # a socket per worker: see app/supervisor.py
        _share_metrics(settings)
        try:
            status = supervise(host, port, workers, settings.log_level)
        except OSError as exc:
            typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
            raise typer.Exit(1) from exc
        raise typer.Exit(status)
    uvicorn.run(**APP_OPTIONS, host=host, port=port, log_level=settings.log_level)


def _share_metrics(settings: Settings) -> None:
    """Multiprocess Prometheus metrics for the workers about to start (``app.metrics``).

    prometheus_client picks its storage when it is imported, from ``PROMETHEUS_MULTIPROC_DIR``,
    so the directory is handed to the worker processes through their environment.
    """
    directory = settings.metrics_multiprocess_dir or settings.home / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)  # samples of an earlier run would be added in
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    os.environ["MEDREC_METRICS_MULTIPROCESS_DIR"] = str(directory)
    get_settings.cache_clear()


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., help="clinician or admin"),
    name: str = typer.Option("cli", help="A label for the key."),
) -> None:
    """Create an API key and print it once."""
    if role not in ("clinician", "admin"):
        typer.echo("error: --role must be clinician or admin", err=True)
        raise typer.Exit(2)
    from app import admin

    typer.echo(admin.create_key(get_settings(), role=role, name=name))


@keys_app.command("list")
def keys_list() -> None:
    """List the keys: id, role, name, created, last used, revoked."""
    from app import admin

    for k in admin.list_keys(get_settings()):
        used = _when(k.last_used_at) or "never"
        state = f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active"
        typer.echo(f"{k.id}  {k.role:<9}  {k.name}  created {_when(k.created_at)}  used {used}  "
                   f"{state}")  # fmt: skip


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


KeyId = Annotated[uuid.UUID, typer.Argument(help="The key's id (medrec keys list).")]


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[uuid.UUID, typer.Argument(help="The key's id (keys list).")],
) -> None:
    """Revoke a key; running workers refuse it within MEDREC_API_KEY_CACHE_SECONDS."""
    from app import admin

    try:
        admin.revoke_key(get_settings(), key_id)
    except MedRecError as exc:
        _fail(exc)
    typer.echo(f"revoked {key_id} (every worker refuses it within its key cache time)")


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[uuid.UUID, typer.Argument(help="The key's id (keys list).")],
) -> None:
    """Revoke a key and print its successor (same name and role) once."""
    from app import admin

    try:
        _, plaintext = admin.rotate_key(get_settings(), key_id)
    except MedRecError as exc:
        _fail(exc)
    typer.echo(plaintext)


@ddi_app.command("load")
def ddi_load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    source: str | None = typer.Option(None, help="Default source (default: file name stem)."),
    source_version: str | None = typer.Option(None, help="Default: the file name."),
    replace: bool = typer.Option(False, help="Replace the named sources' rows."),
) -> None:
    """Load a DDI CSV (atc3_a,atc3_b[,types,severity,source])."""
    from app import admin

    try:
        n = admin.load_ddi_file(
            get_settings(), file, source=source, source_version=source_version, replace=replace
        )
    except MedRecError as exc:
        _fail(exc)
    typer.echo(f"loaded {n} interaction pairs from {file}")


@vocab_app.command("load")
def vocab_load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    source_version: str | None = typer.Option(None, help="Default: the file name."),
    replace: bool = typer.Option(False, help="Delete every loaded map first."),
) -> None:
    """Load a code map CSV (system,code,atc[,display], or ndc/rxcui with atc4)."""
    from app import admin

    try:
        n = admin.load_vocab_file(
            get_settings(), file, source_version=source_version, replace=replace
        )
    except MedRecError as exc:
        _fail(exc)
    typer.echo(f"loaded {n} code mappings from {file}")


@models_app.command("register")
def models_register(
    artifact_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    activate: bool = typer.Option(False, help="Verify and activate it too."),
) -> None:
    """Register an exported artifact directory."""
    from app import admin

    try:
        row = admin.register_model(get_settings(), artifact_dir, activate=activate)
    except MedRecError as exc:
        _fail(exc)
    typer.echo(f"registered {row.name} v{row.version} ({row.status}), sha256 {row.sha256}")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the migrations."""
    from app import admin

    admin.upgrade_db(get_settings(), revision)
    typer.echo(f"database at {revision}")


def _root(debug: bool = typer.Option(False, "--debug", help="Show stack traces.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _needs_training(name: str) -> Callable[[], None]:
    def command() -> None:
        typer.echo(f"error: `medrec {name}` needs the training extra: {TRAIN_EXTRA}", err=True)
        raise typer.Exit(2)

    command.__doc__ = f"(needs the training extra: {TRAIN_EXTRA})"
    return command


def build_cli() -> typer.Typer:
    """The ``medrec`` app: the service's commands, plus the training side's where installed."""
    cli = typer.Typer(
        name="medrec",
        help="MedRec: medication recommendation with GAMENet, G-BERT and GENN.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    cli.callback()(_root)
    cli.command("serve")(serve)
    cli.add_typer(keys_app, name="keys")
    cli.add_typer(ddi_app, name="ddi")
    cli.add_typer(vocab_app, name="vocab")
    cli.add_typer(models_app, name="models")
    cli.add_typer(db_app, name="db")
    cli.command("worker")(jobs_cli.worker)
    cli.command("demo")(demo.demo)
    train = typer.Typer(help="Train a model on a dataset.", invoke_without_command=True)
    train.callback()(jobs_cli.train)  # medrec train --from EXPORT: the whole job pipeline
    cli.add_typer(train, name="train")
    try:
        load_entry_point(TRAINING_CLI)(cli, train)
    except TrainingNotInstalled:
        loose = {"allow_extra_args": True, "ignore_unknown_options": True}
        for name in TRAINING_COMMANDS:
            cli.command(name, context_settings=loose)(_needs_training(name))
        for model in MODEL_NAMES:
            train.command(model, context_settings=loose)(_needs_training(f"train {model}"))
    return cli


def main() -> None:
    """Entry point of the ``medrec`` console script: one clear line on bad input, unless --debug."""
    try:
        build_cli()()
    # ValueError: bad options or data a command refuses (e.g. an empty split); --debug traces.
    except (InputFileError, FileNotFoundError, FileExistsError, ValueError, MedRecError) as exc:
        if "--debug" in sys.argv:
            raise
        typer.echo(f"error: {getattr(exc, 'detail', exc)}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
