r"""``medrec worker`` and ``medrec train --from EXPORT``: the job pipeline without the API.

Examples::

    medrec worker
    medrec train --from var/synthetic --format mimic3 --model gamenet --epochs 5
    medrec train --from omop-export/ --format omop --mapping drug_atc.csv \\
        --reader drug_atc=drug_atc.csv
"""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.contract.names import INPUT_FORMATS
from app.errors import MedRecError
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.db.models import TrainingJob


def train_from_export(
    settings: Settings,
    export: Path,
    *,
    format: str,
    model: str = "gamenet",
    params: dict[str, Any] | None = None,
    mappings: list[Path] | None = None,
) -> TrainingJob:
    """Queue a job on a local export and run it here, as a worker would; return the finished row.

    Raises:
        MedRecError: the job cannot be queued (too many jobs, unsafe archive).
    """
    from app.admin import session_scope, upgrade_db
    from app.crud.training_jobs import get_training_job
    from app.jobs.runner import JobWorker
    from app.jobs.submit import submit_job

    upgrade_db(settings)
    with session_scope(settings) as session, contextlib.ExitStack() as files:
        streams = [(p.name, files.enter_context(open(p, "rb"))) for p in mappings or []]
        job = submit_job(
            session=session,
            settings=settings,
            format=format,
            model=model,
            params=params or {},
            source=Path(export).resolve(),
            mappings=streams,
        )
    loop = JobWorker(settings)
    try:
        loop.run_once(job_id=job.id)
    finally:
        loop.close()
    with session_scope(settings) as session:
        row = get_training_job(session=session, job_id=job.id)
        assert row is not None
        _ = row.result_model_version  # load it while the session is open
        return row


def train(
    ctx: typer.Context,
    source: Annotated[
        Path | None, typer.Option("--from", help="Export directory, zip or file.", exists=True)
    ] = None,
    format: Annotated[str, typer.Option("--format", help=" | ".join(INPUT_FORMATS))] = "mimic3",
    model: Annotated[str, typer.Option("--model")] = "gamenet",
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    split: Annotated[str, typer.Option(help="literature | random")] = "literature",
    mapping: Annotated[list[Path] | None, typer.Option(help="Mapping file (repeat).")] = None,
    reader: Annotated[
        list[str] | None, typer.Option(help="Reader option name=value (repeat).")
    ] = None,
) -> None:
    """Ingest an export, train, export, register a candidate version and apply the gate."""
    if ctx.invoked_subcommand is not None:
        return
    if source is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if format not in INPUT_FORMATS or model != "gamenet":
        formats = ", ".join(INPUT_FORMATS)
        typer.echo(f"error: --format is one of {formats}; --model gamenet", err=True)
        raise typer.Exit(2)
    options = {k: v for k, _, v in (item.partition("=") for item in reader or [])}
    params = {"epochs": epochs, "seed": seed, "split": split, "reader": options}
    try:
        job = train_from_export(
            get_settings(), source, format=format, model=model, params=params, mappings=mapping
        )
    except MedRecError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    if job.state != "succeeded" or job.comparison is None:
        typer.echo(f"error: job {job.id} {job.state}: {job.error}", err=True)
        raise typer.Exit(1)
    version = job.result_model_version
    assert version is not None
    gate = job.comparison["gate"]
    typer.echo(f"job {job.id} succeeded: {version.name} v{version.version} ({version.status})")
    for key in ("jaccard", "prauc", "ddi_rate"):
        cand = job.comparison["candidate"][key]["point"]
        act = job.comparison["active"][key]["point"] if job.comparison["active"] else None
        typer.echo(f"  {key:9s} candidate {cand:.4f}" + (f"  active {act:.4f}" if act else ""))
    typer.echo("gate: " + json.dumps(gate))


def worker() -> None:
    """Work on training jobs until interrupted (SIGINT/SIGTERM)."""
    from app.admin import upgrade_db
    from app.jobs.runner import JobWorker

    settings = get_settings()
    upgrade_db(settings)
    loop = JobWorker(settings)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loop.stop())
    loop.run_forever()
