"""The training commands of ``medrec``, added to the service's command line by name.

``app.cli`` (the one composition root) calls :func:`register` through
``app.contract.entry_points.TRAINING_CLI``. Each command turns its options into a frozen config
and calls a plain function; tests call the function, not the command. Heavy modules (torch,
polars) are imported inside the commands so that ``medrec --help`` starts fast.

Examples::

    medrec synth --patients 1000 --out var/synthetic
    medrec data report var/synthetic
    medrec train gamenet --data var/datasets/synthetic --out runs/gamenet
    medrec train ensemble --data var/datasets/synthetic --members runs/gamenet --out runs/ens
    medrec export runs/gamenet --out var/artifacts/gamenet-1
    medrec evaluate --data var/datasets/synthetic --runs runs/gamenet --baselines lr
"""

from __future__ import annotations

import typer

from training.data import cli as data_cli
from training.ensemble import cli as ensemble_cli
from training.evaluate import cli as evaluate_cli
from training.export import cli as export_cli
from training.gamenet import cli as gamenet_cli
from training.gbert import cli as gbert_cli
from training.genn import cli as genn_cli


def register(cli: typer.Typer, train: typer.Typer) -> None:
    """Add the training commands to ``cli`` and the model trainers to its ``train`` group."""
    cli.command("synth")(data_cli.synth)
    cli.command("ingest")(data_cli.ingest)
    cli.add_typer(data_cli.data_app, name="data")
    cli.command("export")(export_cli.export)
    cli.command("evaluate")(evaluate_cli.evaluate)
    cli.add_typer(genn_cli.app, name="genn")
    train.command("gamenet")(gamenet_cli.train)
    train.command("gbert")(gbert_cli.train)
    train.command("genn")(genn_cli.train_command)
    train.command("ensemble")(ensemble_cli.train)
