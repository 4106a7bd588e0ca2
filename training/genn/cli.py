"""``medrec`` commands for GENN; options come from the configs. Heavy imports live inside.

Examples::

    medrec train genn --ddi var/ddi.csv --out runs/genn
    medrec export runs/genn --out var/artifacts/genn-1
    medrec genn decagon --data ../shared/data/ddi/decagon --out runs/genn-decagon
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from training.genn.config import DecagonConfig, TrainConfig
from training.options import config_options

app = typer.Typer(help="GENN: drug-pair interaction types.", no_args_is_help=True)
# The run's seed replaces the phases' seed; ``--epochs`` sets every phase's maximum at once.
PHASE_EPOCHS = ("train.mlp_epochs", "train.pretrain_epochs", "train.genn_epochs")


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise typer.BadParameter("expected comma-separated integers, e.g. 1,2,3") from None


@app.command("train")
@config_options(TrainConfig, exclude=("train.seed", *PHASE_EPOCHS))
def train_command(
    ddi: Annotated[
        Path, typer.Option("--ddi", help="CSV: atc3_a,atc3_b[,types,...] or drug_a,...")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to create.")],
    epochs: Annotated[int, typer.Option(help="Max epochs of each phase (MLP, GNN, GENN).")] = 300,
    *,
    config: TrainConfig,
) -> None:
    """Train GENN (and its GNN and MLP baselines) on a typed DDI table."""
    from training.genn.run import train

    phases = replace(config.train, mlp_epochs=epochs, pretrain_epochs=epochs, genn_epochs=epochs)
    metrics = train(ddi, out, replace(config, train=phases))
    test = metrics["genn"]["test"]
    typer.echo(f"GENN test ROC-AUC {test['roc_auc']:.4f}, PR-AUC {test['pr_auc']:.4f} -> {out}")


@app.command("decagon")
@config_options(DecagonConfig, exclude=("seeds", "data_ratio", "train.seed"))
def decagon_command(
    data: Annotated[Path, typer.Option("--data", help="The decagon folder (pairs.csv, ranks).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (results.json, report.md).")],
    seeds: Annotated[str, typer.Option(help="GENN seeds (1-3).")] = "1,2,3",
    ratio: Annotated[
        float, typer.Option(help="Percentage of edges kept (GENN's data_ratio).")
    ] = 10.0,
    *,
    config: DecagonConfig,
) -> None:
    """Compare GENN, GNN and MLP on Decagon with GENN's splits; mean ± std over seeds."""
    from training.genn.decagon_eval import run_decagon

    run_decagon(data, out, replace(config, seeds=_seeds(seeds), data_ratio=ratio))
    typer.echo((out / "report.md").read_text())
