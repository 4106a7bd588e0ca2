from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import build_cli
from tests.training.genn.factories import write_tiny_ddi


@pytest.mark.slow
def test_train_then_export(tmp_path: Path) -> None:
    ddi = write_tiny_ddi(tmp_path / "ddi.csv")
    runner = CliRunner()
    args = ["train", "genn", "--ddi", str(ddi), "--out", str(tmp_path / "run"), "--epochs", "2"]
    result = runner.invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    assert "GENN test ROC-AUC" in result.output
    result = runner.invoke(
        build_cli(),
        ["export", str(tmp_path / "run"), "--out", str(tmp_path / "art"), "--version", "2"],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "art" / "model.onnx").is_file()
    assert not (tmp_path / "art" / "model.onnx.data").exists()


def test_bad_seeds_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_cli(),
        [
            "genn",
            "decagon",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--seeds",
            "1,x",
        ],
    )
    assert result.exit_code != 0
