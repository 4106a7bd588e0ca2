"""``medrec train gamenet``: options → :class:`TrainConfig` → :func:`train_gamenet`.

Example::

    medrec train gamenet --data var/datasets/synthetic --out runs/gamenet --epochs 40
    medrec train gamenet --data var/datasets/mimic3 --ddi ddi.csv --out runs/ref --mode reference
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from training.gamenet.config import TrainConfig


def train(
    data: Annotated[Path, typer.Option(help="Dataset directory (manifest.json + patients).")],
    out: Annotated[Path, typer.Option(help="Run directory to create.")],
    ddi: Annotated[
        Path | None, typer.Option(help="DDI table CSV, when the dataset has no ddi.csv.")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    mode: Annotated[str, typer.Option(help="batched | reference (one step a visit).")] = "batched",
    split: Annotated[str, typer.Option(help="literature | random.")] = "literature",
    seed: Annotated[int, typer.Option()] = 0,
    lr: Annotated[float | None, typer.Option(help="Adam lr (default: the mode's).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Patients per batched step.")] = 16,
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda.")] = "cpu",
    ddi_loss: Annotated[
        str, typer.Option(help="mixed | separate (own Adam step) | off: the annealed DDI loss.")
    ] = TrainConfig.ddi_loss,
    graph_norm: Annotated[
        str, typer.Option(help="symmetric (GCNConv) | row (the official code's).")
    ] = TrainConfig.graph_norm,
    gcn_init: Annotated[
        str, typer.Option(help="glorot (GCNConv) | uniform (the official code's).")
    ] = TrainConfig.gcn_init,
    lr_schedule: Annotated[
        str, typer.Option(help="constant | cosine (decay to 0 over the epochs).")
    ] = TrainConfig.lr_schedule,
) -> None:
    """Train GAMENet and write RUN_DIR (checkpoints, metrics.json, curves.png, report.md)."""
    from training.gamenet.run import train_gamenet

    try:
        config = TrainConfig(
            mode=mode,  # type: ignore[arg-type]
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            split=split,  # type: ignore[arg-type]
            seed=seed,
            ddi_loss=ddi_loss,  # type: ignore[arg-type]
            graph_norm=graph_norm,  # type: ignore[arg-type]
            gcn_init=gcn_init,  # type: ignore[arg-type]
            lr_schedule=lr_schedule,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    metrics = train_gamenet(data, out, config, ddi_path=ddi, device=device)
    test = metrics["test"]["jaccard"]
    typer.echo(
        f"test jaccard {test['mean']:.4f} ± {test['std']:.4f} "
        f"(best epoch {metrics['best_epoch']}); report: {out / 'report.md'}"
    )
