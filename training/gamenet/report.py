"""A run's ``report.md``: data, configuration and the test table beside the baselines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRIC_ROWS = ("jaccard", "prauc", "f1", "ddi_rate", "avg_meds")
BASELINE_LABELS = {
    "frequency": "Frequency (top-k meds)",
    "nearest": "Nearest (previous visit's meds)",
    "logistic_regression": "Logistic regression (dx + proc)",
}


def _cell(summary: Mapping[str, float]) -> str:
    return f"{summary['mean']:.4f} ± {summary['std']:.4f}"


def metrics_table(rows: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Return a markdown table: one row per method, one column per metric (mean ± std)."""
    lines = [
        "| method | " + " | ".join(METRIC_ROWS) + " |",
        "|---|" + "---|" * len(METRIC_ROWS),
    ]
    for name, metrics in rows.items():
        cells = " | ".join(_cell(metrics[k]) for k in METRIC_ROWS)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def write_report(path: Path, metrics: Mapping[str, Any]) -> None:
    """Write ``report.md``: data, configuration, the test table with baselines, best epoch."""
    data, config = metrics["dataset"], metrics["train_config"]
    rows = {"**GAMENet**": metrics["test"]}
    if "tuned_threshold" in metrics:
        rows[f"GAMENet, threshold {metrics['tuned_threshold']:.2f} (tuned on validation)"] = (
            metrics["test_tuned"]
        )
    rows.update({BASELINE_LABELS.get(k, k): v for k, v in metrics["baselines"].items()})
    split = data["split"]
    ddi = metrics["ddi_source"]
    synthetic = "yes (demo data; not for clinical use)" if metrics["synthetic"] else "no"
    batch = config["batch_size"] if config["mode"] == "batched" else 1
    counts = split["counts"]
    text = f"""# GAMENet training report

- dataset: `{data["source_format"]}`, {data["patients"]} patients, {data["visits"]} visits
  (fingerprint `{data["fingerprint"][:16]}…`); synthetic: {synthetic}
- split: {split["method"]}; patients train / val / test:
  {counts["train"]} / {counts["val"]} / {counts["test"]}
- DDI table: `{ddi["name"]}` ({ddi["pairs"]} pairs); ground-truth DDI rate of the test visits:
  {metrics["test_ground_truth_ddi_rate"]:.4f}
- training: mode {config["mode"]}, {config["epochs"]} epochs, Adam lr {config["lr"]},
  batch size {batch}, threshold {config["threshold"]}, seed {config["seed"]}
- best epoch by validation Jaccard: {metrics["best_epoch"]} (validation Jaccard
  {metrics["best_val_jaccard"]:.4f}); training time {metrics["train_seconds"]:.0f} s

## Test split ({config["bootstrap_rounds"]} bootstrap rounds on 80% of patients, mean ± std)

{metrics_table(rows)}

Every row scores the same test visits with the same metric code (`training.metrics`). Frequency
and Nearest give a first visit the most frequent meds (see `training.baselines`).

![curves](curves.png)
"""
    path.write_text(text)
