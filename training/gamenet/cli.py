"""``medrec train gamenet``: options (from :class:`TrainConfig`) → :func:`train`.

Example::

    medrec train gamenet --data var/datasets/synthetic --out runs/gamenet --epochs 40
    medrec train gamenet --data var/datasets/mimic3 --ddi ddi.csv --out runs/ref --mode reference
    medrec train gamenet --data var/datasets/mimic3 --out runs/toml --config gamenet.toml
"""

from __future__ import annotations

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
    *,
    config: TrainConfig,
) -> None:
    """Train GAMENet and write RUN_DIR (checkpoints, metrics.json, curves.png, report.md)."""
    from training.gamenet.run import train as train_run

    metrics = train_run(data, out, config, ddi_path=ddi, device=device)
    test = metrics["test"]["jaccard"]
    typer.echo(
        f"test jaccard {test['mean']:.4f} ± {test['std']:.4f} "
        f"(best epoch {metrics['best_epoch']}); report: {out / 'report.md'}"
    )
