"""``curves.png`` of a run: one panel per figure, one line per trained network, by epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_curves(
    series: Mapping[str, Sequence[Mapping[str, float]]],
    panels: Sequence[tuple[str, str]],
    path: Path,
) -> None:
    """Plot history rows by their ``epoch`` into ``path`` (PNG, Agg backend).

    Args:
        series: label → history rows (:attr:`training.fit.FitResult.history`); a legend is
            drawn when there is more than one.
        panels: ``(row key, title)`` of each panel, left to right.
        path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4 * max(len(panels), 1), 3.4))
    axes_list = list(axes.flat) if hasattr(axes, "flat") else [axes]
    for ax, (key, title) in zip(axes_list, panels, strict=False):
        for label, rows in series.items():
            epochs = [r["epoch"] for r in rows]
            ax.plot(epochs, [r[key] for r in rows], marker="o", markersize=3, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
