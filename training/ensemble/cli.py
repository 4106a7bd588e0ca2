"""``medrec train ensemble``: options (from :class:`TrainConfig`) → :func:`train`.

Example::

    medrec train ensemble --data var/datasets/synthetic --members runs/gamenet --out runs/ens
    medrec train ensemble --data var/ds --members runs/gamenet --members runs/gbert --out runs/e3
    medrec export runs/ens --out var/artifacts/ensemble-1
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from training.ensemble.config import TrainConfig
from training.options import config_options


@config_options(TrainConfig)
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory the members were trained on.")],
    members: Annotated[
        list[Path], typer.Option(help="A member's run directory (repeat for each member).")
    ],
    out: Annotated[Path, typer.Option(help="Run directory to create.")],
    *,
    config: TrainConfig,
) -> None:
    """Fit the pattern-aware ensemble of trained runs (and LR) and write RUN_DIR."""
    from training.ensemble.run import train as train_run

    metrics = train_run(data, members, out, config)
    rows = metrics["rows"]
    best = max(metrics["members"], key=lambda m: rows[m]["val_point"]["jaccard"])
    ours = rows["per-pattern weights"]
    typer.echo(
        f"ensemble jaccard val {ours['val_point']['jaccard']:.4f} "
        f"test {ours['test_point']['jaccard']:.4f}; best member {best}: "
        f"val {rows[best]['val_point']['jaccard']:.4f} "
        f"test {rows[best]['test_point']['jaccard']:.4f}; report: {out / 'report.md'}"
    )
