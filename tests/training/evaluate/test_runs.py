from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.evaluate.runs import load_run_predictor, run_data


def _run(tmp_path: Path, obj: object) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "run.json").write_text(json.dumps(obj))
    return tmp_path


def test_a_directory_without_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no run.json"):
        load_run_predictor(tmp_path)


def test_a_pair_model_run_is_not_a_recommender(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'genn' is not a recommender"):
        load_run_predictor(_run(tmp_path, {"model": "genn"}))


def test_run_data_reads_both_run_layouts() -> None:
    gamenet = {
        "data_dir": "ds",
        "ddi_path": "ddi.csv",
        "dataset": {"fingerprint": "f", "split": {"method": "literature", "seed": None}},
    }
    gbert = {
        "data": {"path": "ds", "fingerprint": "f"},
        "split": {"method": "random", "seed": 3},
        "ddi": None,
    }
    a, b = run_data(gamenet), run_data(gbert)
    assert (a.data_dir, a.fingerprint, a.ddi_path) == (Path("ds"), "f", Path("ddi.csv"))
    assert a.split["method"] == "literature"
    assert (b.data_dir, b.fingerprint, b.ddi_path, b.split["seed"]) == (Path("ds"), "f", None, 3)
