"""The ``medrec`` command line.

Each command turns its options into a frozen config and calls a plain function; tests call the
function, not the command. Heavy modules (torch, polars) are imported inside the commands so that
``medrec --help`` and the serving commands start fast.

Examples::

    medrec synth --patients 1000 --out var/synthetic
    medrec data report var/synthetic
    medrec train gamenet --data var/datasets/synthetic --out runs/gamenet
    medrec export runs/gamenet --out var/artifacts/gamenet-1
"""

from __future__ import annotations

import logging
import sys

import typer

from app.cli import register as register_service_commands
from app.contract.errors import InputFileError
from app.jobs import cli as jobs_cli
from training import demo
from training.data import cli as data_cli
from training.export import cli as export_cli
from training.gamenet import cli as gamenet_cli
from training.gbert import cli as gbert_cli
from training.genn import cli as genn_cli

cli = typer.Typer(
    name="medrec",
    help="MedRec: medication recommendation with GAMENet, G-BERT and GENN.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

register_service_commands(cli)
train_cli = typer.Typer(help="Train a model on a dataset.", invoke_without_command=True)
train_cli.callback()(jobs_cli.train)  # medrec train --from EXPORT: the whole job pipeline
cli.add_typer(train_cli, name="train")
train_cli.command("gamenet")(gamenet_cli.train)
cli.command("export")(export_cli.export)
cli.command("demo")(demo.demo)
train_cli.command("genn")(genn_cli.train_command)
train_cli.command("gbert")(gbert_cli.train)
cli.add_typer(genn_cli.app, name="genn")


@cli.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show stack traces.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


cli.command("synth")(data_cli.synth)
cli.command("ingest")(data_cli.ingest)
cli.add_typer(data_cli.data_app, name="data")


def main() -> None:
    """Entry point of the ``medrec`` console script: one clear line on bad input, unless --debug."""
    try:
        cli()
    # ValueError: bad options or data a command refuses (e.g. an empty split); --debug traces.
    except (InputFileError, FileNotFoundError, FileExistsError, ValueError) as exc:
        if "--debug" in sys.argv:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
