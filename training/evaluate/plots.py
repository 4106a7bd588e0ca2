"""The report's figures, one PNG each (matplotlib, Agg backend), drawn from ``report.json`` rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

FIGURES = {
    "by_past_visits": "by_past_visits.png",
    "ddi_vs_jaccard": "ddi_vs_jaccard.png",
    "pr_curves": "pr_curves.png",
    "ddi_curve": "ddi_curve.png",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _by_past_visits(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    buckets = list(rows[0]["by_past_visits"]["tuned"])
    width = 0.8 / len(rows)
    for k, row in enumerate(rows):
        cells = row["by_past_visits"]["tuned"]
        xs = [i + (k - (len(rows) - 1) / 2) * width for i in range(len(buckets))]
        ax.bar(xs, [cells[b]["jaccard"] for b in buckets], width, label=row["name"])
    top = max(r["by_past_visits"]["tuned"][b]["jaccard"] for r in rows for b in buckets)
    ax.set_ylim(0, max(top, 0.01) * 1.3)  # room for the legend above the bars
    counts = rows[0]["by_past_visits"]["tuned"]
    ax.set_xticks(range(len(buckets)), [f"{b}\n({counts[b]['visits']} visits)" for b in buckets])
    ax.set_xlabel("past visits")
    ax.set_ylabel("test Jaccard (tuned threshold)")
    ax.set_title("Jaccard by number of past visits", fontsize=10)


def _ddi_vs_jaccard(ax: Any, rows: Sequence[Mapping[str, Any]], truth_rate: float) -> None:
    for k, row in enumerate(rows):
        color = f"C{k % 10}"
        for key, marker in (("fixed", "o"), ("tuned", "s")):
            m = row[key]
            ax.scatter(
                m["ddi_rate"]["mean"],
                m["jaccard"]["mean"],
                marker=marker,
                color=color,
                facecolors="none" if key == "fixed" else color,
                label=f"{row['name']} ({key} {row['thresholds'][key]:.2f})",
            )
    ax.axvline(truth_rate, color="grey", linestyle="--", label="test ground truth")
    ax.set_xlabel("test DDI rate")
    ax.set_ylabel("test Jaccard")
    ax.set_title("DDI rate vs Jaccard", fontsize=10)


def _pr_curves(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    for row in rows:
        curve = row["pr_curve"]
        ax.plot(curve["recall"], curve["precision"], label=row["name"])
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall, every (visit, med) of the test split", fontsize=10)


def _ddi_curve(ax: Any, rows: Sequence[Mapping[str, Any]], truth_rate: float) -> None:
    for row in rows:
        points = row["ddi_curve"]
        ax.plot(
            [p["ddi_rate"] for p in points],
            [p["jaccard"] for p in points],
            marker="o",
            markersize=3,
            label=row["name"],
        )
    ax.axvline(truth_rate, color="grey", linestyle="--", label="test ground truth")
    ax.set_xlabel("achieved test DDI rate (max_ddi_rate from 0 to the ground truth)")
    ax.set_ylabel("test Jaccard")
    ax.set_title("Jaccard under the max_ddi_rate rule (tuned threshold)", fontsize=10)


def plot_report(report: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Draw every figure of ``report`` into ``out_dir``; return figure name → PNG path."""
    plt = _pyplot()
    rows, truth = report["rows"], report["test_ground_truth_ddi_rate"]
    draw = {
        "by_past_visits": lambda ax: _by_past_visits(ax, rows),
        "ddi_vs_jaccard": lambda ax: _ddi_vs_jaccard(ax, rows, truth),
        "pr_curves": lambda ax: _pr_curves(ax, rows),
        "ddi_curve": lambda ax: _ddi_curve(ax, rows, truth),
    }
    paths = {}
    for name, file in FIGURES.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        draw[name](ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if name == "by_past_visits" else 1)
        fig.tight_layout()
        paths[name] = Path(out_dir) / file
        fig.savefig(paths[name], dpi=100)
        plt.close(fig)
    return paths
