"""``medrec train gbert``: options (from :class:`TrainConfig`) → :func:`train`.

Example::

    medrec train gbert --data var/synthetic --out var/runs/gbert-pre --stage pretrain
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from training.gbert.config import TrainConfig
from training.options import config_options


@config_options(TrainConfig)
def train(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    init: Annotated[Path | None, typer.Option(help="Run directory this stage starts from.")] = None,
    ddi: Annotated[
        Path | None, typer.Option(help="DDI table CSV, when the dataset has no ddi.csv.")
    ] = None,
    distributed: Annotated[
        bool, typer.Option(help="Data-parallel under torchrun (gloo on CPU).")
    ] = False,
    *,
    config: TrainConfig,
) -> None:
    """Train G-BERT: pre-train, convert to DHA, or fine-tune (optionally adapters only)."""
    from training.gbert.run import train as train_run

    try:
        metrics = train_run(data, out, config, init_dir=init, ddi_path=ddi, distributed=distributed)
    except ValueError as exc:  # a bad option combination or a mismatched --init run
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if int(os.environ.get("RANK", "0")) != 0:
        return  # rank 0 speaks for the run
    summary = metrics.get("test", {"best_val_loss": metrics.get("best_val_loss")})
    typer.echo(f"wrote {out}: {summary}")
