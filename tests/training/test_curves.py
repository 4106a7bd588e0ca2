from __future__ import annotations

from pathlib import Path

from training.curves import plot_curves


def test_plot_curves_writes_a_png(tmp_path: Path) -> None:
    rows = [
        {"epoch": 1, "train_loss": 1.0, "val_x": 0.1},
        {"epoch": 2, "train_loss": 0.5, "val_x": 0.2},
    ]
    path = tmp_path / "curves.png"
    plot_curves({"a": rows, "b": rows[:1]}, [("train_loss", "loss"), ("val_x", "x")], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
