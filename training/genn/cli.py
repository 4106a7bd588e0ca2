"""``medrec`` commands for GENN. Heavy imports live inside the commands.

Examples::

    medrec train genn --ddi var/ddi.csv --out runs/genn
    medrec export runs/genn --out var/artifacts/genn-1
    medrec genn decagon --data ../shared/data/ddi/decagon --out runs/genn-decagon
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="GENN: drug-pair interaction types.", no_args_is_help=True)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise typer.BadParameter("expected comma-separated integers, e.g. 1,2,3") from None


@app.command("train")
def train_command(
    ddi: Annotated[
        Path, typer.Option("--ddi", help="CSV: atc3_a,atc3_b[,types,...] or drug_a,...")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to create.")],
    seed: Annotated[int, typer.Option(help="Seed of split, features and initialisation.")] = 0,
    negative_ratio: Annotated[
        float, typer.Option(help="Sampled non-interacting pairs per pair.")
    ] = 1.0,
    epochs: Annotated[int, typer.Option(help="Max epochs of each phase (MLP, GNN, GENN).")] = 300,
    patience: Annotated[int, typer.Option(help="Epochs without a better val ROC-AUC.")] = 50,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.01,
    synthetic: Annotated[
        bool, typer.Option(help="Mark the model as trained on demo data.")
    ] = False,
) -> None:
    """Train GENN (and its GNN and MLP baselines) on a typed DDI table."""
    from training.genn.loop import TrainConfig
    from training.genn.run import RunConfig, train_table_run

    train = TrainConfig(
        seed=seed,
        lr=lr,
        mlp_epochs=epochs,
        pretrain_epochs=epochs,
        genn_epochs=epochs,
        patience=patience,
    )
    config = RunConfig(seed=seed, negative_ratio=negative_ratio, synthetic=synthetic, train=train)
    metrics = train_table_run(ddi, out, config)
    test = metrics["genn"]["test"]
    typer.echo(f"GENN test ROC-AUC {test['roc_auc']:.4f}, PR-AUC {test['pr_auc']:.4f} -> {out}")


@app.command("decagon")
def decagon_command(
    data: Annotated[Path, typer.Option("--data", help="The decagon folder (pairs.csv, ranks).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (results.json, report.md).")],
    seeds: Annotated[str, typer.Option(help="GENN seeds (1-3).")] = "1,2,3",
    ratio: Annotated[
        float, typer.Option(help="Percentage of edges kept (GENN's data_ratio).")
    ] = 10.0,
    mlp_epochs: Annotated[int, typer.Option(help="Max MLP epochs.")] = 1500,
    pretrain_epochs: Annotated[int, typer.Option(help="Max GNN pre-training epochs.")] = 1500,
    genn_epochs: Annotated[int, typer.Option(help="Max GENN epochs.")] = 1500,
    patience: Annotated[int, typer.Option(help="Epochs without a better val ROC-AUC.")] = 50,
    genn_lr: Annotated[
        float | None, typer.Option(help="GENN-phase learning rate (default: --lr).")
    ] = None,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.01,
    device: Annotated[str, typer.Option(help="torch device (cpu, cuda).")] = "cpu",
) -> None:
    """Compare GENN, GNN and MLP on Decagon with GENN's splits; mean ± std over seeds."""
    from training.genn.decagon_eval import DecagonConfig, run_decagon
    from training.genn.loop import TrainConfig

    train = TrainConfig(
        mlp_epochs=mlp_epochs,
        pretrain_epochs=pretrain_epochs,
        genn_epochs=genn_epochs,
        patience=patience,
        lr=lr,
        genn_lr=genn_lr,
        device=device,
    )
    config = DecagonConfig(seeds=_seeds(seeds), data_ratio=ratio, train=train)
    run_decagon(data, out, config)
    typer.echo((out / "report.md").read_text())
