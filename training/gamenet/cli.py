"""``medrec train gamenet``: options (from :class:`TrainConfig`) → :func:`train`.

Example::

    medrec train gamenet --data var/datasets/synthetic --out runs/gamenet --epochs 40
    medrec train gamenet --data var/datasets/mimic3 --ddi ddi.csv --out runs/ref --mode reference
    medrec train gamenet --data var/datasets/mimic3 --out runs/toml --config gamenet.toml
    torchrun --nproc_per_node=2 -m app.cli train gamenet --data var/ds --out runs/ddp --distributed
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from training.gamenet.config import TrainConfig
from training.options import config_options


@config_options(TrainConfig)
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory (manifest.json + patients).")],
    out: Annotated[Path, typer.Option(help="Run directory to create.")],
    ddi: Annotated[
        Path | None, typer.Option(help="DDI table CSV, when the dataset has no ddi.csv.")
    ] = None,
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda.")] = "cpu",
    distributed: Annotated[
        bool, typer.Option(help="Data-parallel under torchrun (gloo on CPU, nccl on CUDA).")
    ] = False,
    *,
    config: TrainConfig,
) -> None:
    """Train GAMENet and write RUN_DIR (checkpoints, metrics.json, curves.png, report.md)."""
    from training.gamenet.run import train as train_run

    metrics = train_run(data, out, config, ddi_path=ddi, device=device, distributed=distributed)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # rank 0 speaks for the run
    test = metrics["test"]["jaccard"]
    typer.echo(
        f"test jaccard {test['mean']:.4f} ± {test['std']:.4f} "
        f"(best epoch {metrics['best_epoch']}); report: {out / 'report.md'}"
    )
