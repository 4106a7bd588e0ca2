"""Markdown reports and training curves of GENN runs (``training.curves`` draws them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.curves import plot_curves
from training.fit import FitResult
from training.genn.metrics import METRIC_KEYS

LABELS = {"genn": "GENN", "gnn": "GNN (pre-trained F)", "mlp": "MLP (pair features)"}


def metrics_table(rows: Mapping[str, Mapping[str, str]]) -> str:
    """Return a markdown table: one row per model, one column per metric key."""
    lines = [
        "| model | " + " | ".join(METRIC_KEYS) + " |",
        "|---|" + "---:|" * len(METRIC_KEYS),
    ]
    for name, cells in rows.items():
        label = LABELS.get(name, name)
        lines.append(f"| {label} | " + " | ".join(cells[k] for k in METRIC_KEYS) + " |")
    return "\n".join(lines)


def mean_std_rows(
    per_seed: Mapping[str, Sequence[Mapping[str, float]]],
) -> dict[str, dict[str, str]]:
    """Format ``model -> [metrics per seed]`` as ``mean ± std`` cells (population std)."""
    return {
        name: {
            k: f"{np.mean([r[k] for r in runs]):.4f} ± {np.std([r[k] for r in runs]):.4f}"
            for k in METRIC_KEYS
        }
        for name, runs in per_seed.items()
    }


def write_report(run: Mapping[str, Any], metrics: Mapping[str, Any], path: Path) -> None:
    """Write a run's ``report.md``: data, split, test metrics (bootstrap mean ± std)."""
    boot = metrics["bootstrap_test"]
    rows = {
        name: {k: f"{boot[name][k]['mean']:.4f} ± {boot[name][k]['std']:.4f}" for k in METRIC_KEYS}
        for name in boot
    }
    data, split = run["data"], run["split"]
    text = f"""# GENN run

- Data: `{data["name"]}` ({data["fingerprint"]}): {data["drugs"]} drugs, {data["types"]} types,
  {data["pairs"]} known pairs.
- Split: {split}
- Seed {run["seed"]}, git `{run["git_sha"]}`.

## Test metrics (10 bootstrap rounds of 80% of test pairs, mean ± std)

Macro ROC-AUC / PR-AUC over types with ≥1 positive test pair; P@k per pair.

{metrics_table(rows)}

Selected epochs (validation macro ROC-AUC): {
        ", ".join(f"{k} {h['best_epoch']}" for k, h in metrics["history"].items())
    }.
"""
    path.write_text(text)


def write_curves(histories: Mapping[str, FitResult], path: Path) -> None:
    """Plot training loss and validation ROC-AUC per phase to ``path`` (PNG)."""
    series = {LABELS.get(name, name): result.history for name, result in histories.items()}
    panels = (("train_loss", "training loss"), ("val_roc_auc", "validation macro ROC-AUC"))
    plot_curves(series, panels, path)
