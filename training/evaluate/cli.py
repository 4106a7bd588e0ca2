"""``medrec evaluate``: see :mod:`training.evaluate.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

SplitMethod = Literal["literature", "random"]


def evaluate(
    data: Annotated[Path, typer.Option(help="Dataset directory (manifest.json + patients).")],
    runs: Annotated[
        list[Path] | None,
        typer.Option(help="A run directory to score (repeat for several).", show_default=False),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report directory to write.")] = Path("report"),
    split: Annotated[
        SplitMethod, typer.Option(help="literature (GAMENet's file order) or random.")
    ] = "literature",
    seed: Annotated[int, typer.Option(help="Seed of the random split and the bootstrap.")] = 0,
    baselines: Annotated[
        str, typer.Option(help="Comma-separated baselines: lr, frequency, nearest (or none).")
    ] = "lr",
    ddi: Annotated[
        Path | None, typer.Option(help="DDI table CSV, when the dataset has no ddi.csv.")
    ] = None,
    bootstrap_rounds: Annotated[int, typer.Option(min=1, help="Bootstrap rounds.")] = 10,
) -> None:
    """Score runs and baselines on the same test patients; write report.json, PNGs, report.html."""
    from training.data.splits import SplitConfig
    from training.evaluate.baselines import BASELINES
    from training.evaluate.report import REPORT_HTML
    from training.evaluate.report import evaluate as evaluate_report

    names = [] if baselines.strip() in ("", "none") else [b.strip() for b in baselines.split(",")]
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise typer.BadParameter(
            f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}",
            param_hint="--baselines",
        )
    report = evaluate_report(
        data,
        runs or [],
        out,
        split=SplitConfig(method=split, seed=seed),
        baselines=names,
        ddi_path=ddi,
        bootstrap_rounds=bootstrap_rounds,
    )
    for row in report["rows"]:
        fixed, tuned = row["fixed"]["jaccard"]["mean"], row["tuned"]["jaccard"]["mean"]
        typer.echo(
            f"{row['name']}: test jaccard {fixed:.4f} at 0.50, "
            f"{tuned:.4f} at {row['thresholds']['tuned']:.2f} (tuned on validation)"
        )
    typer.echo(f"report: {out / REPORT_HTML}")
