"""Typer commands of G-BERT: ``medrec train gbert`` (registered in ``training/cli.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, cast

import typer


def train_gbert_command(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    stage: str = typer.Option("pretrain", help="pretrain | dha | finetune."),
    init: Annotated[Path | None, typer.Option(help="Run directory this stage starts from.")] = None,
    epochs: int = typer.Option(5, help="Epochs (dha: continued pre-training epochs)."),
    batch_size: int = typer.Option(64, help="Visits (pretrain/dha) or patients (finetune)."),
    lr: float = typer.Option(5e-4, help="Adam learning rate."),
    seed: int = typer.Option(0, help="The run's seed."),
    kv_budget: float = typer.Option(0.5, help="DHA: KV heads kept, fraction of 2·H·L."),
    dha_method: str = typer.Option("dha", help="dha (search + fusion) | gqa (mean-pooled)."),
    fusion_epochs: int = typer.Option(3, help="DHA: heads-fusion epochs before collapse."),
    adapter: str = typer.Option("none", help="finetune: none (full) | lora | mor."),
    rank: int = typer.Option(8, help="Adapter rank r."),
    experts: int = typer.Option(4, help="MoR experts N."),
    routing: str = typer.Option("token", help="MoR routing: token | visit | constant."),
    heads: int = typer.Option(4, help="pretrain: query heads (narrow-MHA ablation: 3)."),
    ddi: Annotated[Path | None, typer.Option(help="DDI table CSV for the DDI rate.")] = None,
    split: str = typer.Option("random", help="random | literature."),
) -> None:
    """Train G-BERT: pre-train, convert to DHA, or fine-tune (optionally adapters only)."""
    from training.gbert.runs import GBertRunConfig
    from training.gbert.train import train_gbert

    choices = {
        "stage": ("pretrain", "dha", "finetune"),
        "dha_method": ("dha", "gqa"),
        "adapter": ("none", "lora", "mor"),
        "routing": ("token", "visit", "constant"),
        "split": ("random", "literature"),
    }
    given = {
        "stage": stage,
        "dha_method": dha_method,
        "adapter": adapter,
        "routing": routing,
        "split": split,
    }
    for name, value in given.items():
        if value not in choices[name]:
            raise typer.BadParameter(f"--{name.replace('_', '-')} must be one of {choices[name]}")
    cfg = GBertRunConfig(
        data=str(data),
        out=str(out),
        stage=cast(Literal["pretrain"], stage),
        init=None if init is None else str(init),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        kv_budget=kv_budget,
        dha_method=cast(Literal["dha"], dha_method),
        fusion_epochs=fusion_epochs,
        adapter=cast(Literal["none"], adapter),
        rank=rank,
        experts=experts,
        routing=cast(Literal["token"], routing),
        heads=heads,
        ddi=None if ddi is None else str(ddi),
        split=cast(Literal["random"], split),
    )
    try:
        metrics = train_gbert(cfg)
    except ValueError as exc:  # a bad option combination or a mismatched --init run
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    summary = metrics.get("test", {"best_val_loss": metrics.get("best_val_loss")})
    typer.echo(f"wrote {out}: {summary}")
