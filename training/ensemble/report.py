"""``report.md`` of an ensemble run: the ablation table (validation and test apart) and buckets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRICS = (("jaccard", "Jaccard"), ("prauc", "PR-AUC"), ("f1", "F1"), ("ddi_rate", "DDI rate"))


def _table(rows: dict[str, Any], split: str) -> list[str]:
    head = "| model | threshold | " + " | ".join(label for _, label in METRICS) + " | meds/visit |"
    lines = [head, "|" + "---|" * (len(METRICS) + 3)]
    for name, row in rows.items():
        cells = [f"{row[split][k]['mean']:.4f} ± {row[split][k]['std']:.4f}" for k, _ in METRICS]
        meds = row[split]["avg_meds"]["mean"]
        lines.append(
            f"| {name} | {row['threshold']:.2f} | " + " | ".join(cells) + f" | {meds:.1f} |"
        )
    return lines


def write_report(path: Path, metrics: dict[str, Any]) -> None:
    """Write the Markdown report of ``metrics`` (the ``metrics.json`` content) to ``path``."""
    members = metrics["members"]
    lines = [
        "# Ensemble run",
        "",
        f"Members: {', '.join(members)}. Each row's threshold, the Platt maps and the weights "
        "were chosen on validation; test was scored once, at the end. Metrics are the mean ± "
        "std over the 80% patient bootstrap.",
        "",
        "## Validation",
        "",
        *_table(metrics["rows"], "val"),
        "",
        "## Test",
        "",
        *_table(metrics["rows"], "test"),
        "",
        "## Calibration (Platt: sigmoid(scale · logit(p) + shift))",
        "",
        "| member | scale | shift |",
        "|---|---|---|",
        *(
            f"| {m} | {c['scale']:.4f} | {c['shift']:.4f} |"
            for m, c in zip(members, metrics["calibration"], strict=True)
        ),
        "",
        f"## Pattern buckets (codes: few means <= {metrics['code_median']:g}, the training median)",
        "",
        "| bucket | val visits | test visits | own weights | " + " | ".join(members) + " |",
        "|" + "---|" * (4 + len(members)),
        *(
            f"| {b['bucket']} | {b['val_visits']} | {b['test_visits']} | "
            f"{'yes' if b['own_weights'] else 'global'} | "
            + " | ".join(f"{b['weights'][m]:.1f}" for m in members)
            + " |"
            for b in metrics["buckets"]
        ),
        "",
    ]
    Path(path).write_text("\n".join(lines))
