import json
from pathlib import Path

import pytest

from app.contract.errors import InputFileError
from tests.training.genn.factories import write_fake_decagon, write_tiny_ddi
from training.genn.config import DecagonConfig, OptimConfig, TrainConfig
from training.genn.decagon_eval import run_decagon
from training.genn.run import train


def test_run_decagon_writes_mean_std_table(tmp_path: Path) -> None:
    folder = write_fake_decagon(tmp_path / "decagon")
    train = OptimConfig(mlp_epochs=2, pretrain_epochs=2, genn_epochs=2, patience=1)
    config = DecagonConfig(seeds=(1, 2), data_ratio=100, hidden=8, train=train)
    results = run_decagon(folder, tmp_path / "out", config)
    assert [s["split"]["train"] for s in results["seeds"]] == [48, 48]
    history = results["seeds"][0]["history"]["genn"]
    assert 1 <= history["best_epoch"] <= history["epochs_run"] <= 2
    assert 0 < history["seconds_to_best"] <= results["seeds"][0]["seconds"]
    assert set(results["test_mean_std"]) == {"genn", "gnn", "mlp"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| GENN |" in report and " ± " in report and "5.01%" in report
    assert "Node features: 32-d random projection per seed (drugs.csv has no f-columns" in report
    assert "| 2 | GENN | " in report and "Wall time: " in report
    assert json.loads((tmp_path / "out" / "results.json").read_text())["config"]["seeds"] == [1, 2]


def test_run_decagon_uses_the_sets_features(tmp_path: Path) -> None:
    folder = write_fake_decagon(tmp_path / "decagon", features=3)
    train = OptimConfig(mlp_epochs=1, pretrain_epochs=1, genn_epochs=1, patience=1)
    config = DecagonConfig(seeds=(1,), data_ratio=100, hidden=8, train=train)
    results = run_decagon(folder, tmp_path / "out", config)
    assert results["seeds"][0]["split"]["node_features"] == {
        "kind": "provided",
        "file": "drugs.csv",
        "dim": 3,
    }
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Node features: 3-d, the set's own (`drugs.csv` f-columns, as they are)" in report


def test_too_small_table_is_a_clear_error(tmp_path: Path) -> None:
    ddi = write_tiny_ddi(tmp_path / "ddi.csv", n_pairs=5)
    with pytest.raises(InputFileError, match="at least 20 known pairs"):
        train(ddi, tmp_path / "run", TrainConfig())
