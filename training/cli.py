"""The ``medrec`` command line.

Each command turns its options into a frozen config and calls a plain function; tests call the
function, not the command. Heavy modules (torch, polars) are imported inside the commands so that
``medrec --help`` and the serving commands start fast.

Examples::

    medrec synth --patients 1000 --out var/synthetic
    medrec data report var/synthetic
"""

from __future__ import annotations

import logging
import sys

import typer

from training.data import cli as data_cli
from training.errors import InputFileError

cli = typer.Typer(
    name="medrec",
    help="MedRec: medication recommendation with GAMENet, G-BERT and GENN.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


train_app = typer.Typer(
    help="Train a model; each stage writes a run directory.", no_args_is_help=True
)
cli.add_typer(train_app, name="train")


def _register() -> None:
    from training.gbert.cli import train_gbert_command

    train_app.command("gbert")(train_gbert_command)


_register()


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
    except (InputFileError, FileNotFoundError, FileExistsError) as exc:
        if "--debug" in sys.argv:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
