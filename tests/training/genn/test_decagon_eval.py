import json
from pathlib import Path

import numpy as np
import pytest

from app.contract.errors import InputFileError
from tests.training.genn.factories import write_tiny_ddi
from training.genn.config import DecagonConfig, OptimConfig, TrainConfig
from training.genn.decagon_eval import run_decagon
from training.genn.run import train


def _fake_decagon(folder: Path, n_edges: int = 60) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    seen: set[tuple[int, int]] = set()
    lines = ["edge_id,drug_a,drug_b,types"]
    while len(seen) < n_edges:
        a, b = sorted(rng.choice(15, size=2, replace=False).tolist())
        if (a, b) not in seen:
            seen.add((a, b))
            types = "0;2" if rng.random() < 0.5 else "1"
            lines.append(f"{len(seen) - 1},{a},{b},{types}")
    (folder / "pairs.csv").write_text("\n".join(lines) + "\n")
    ranks = [rng.permutation(n_edges) for _ in range(3)]
    rows = ["edge_id,rank_seed1,rank_seed2,rank_seed3"]
    rows += [f"{e},{ranks[0][e]},{ranks[1][e]},{ranks[2][e]}" for e in range(n_edges)]
    (folder / "genn_split_ranks.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_run_decagon_writes_mean_std_table(tmp_path: Path) -> None:
    folder = _fake_decagon(tmp_path / "decagon")
    train = OptimConfig(mlp_epochs=2, pretrain_epochs=2, genn_epochs=2, patience=1)
    config = DecagonConfig(seeds=(1, 2), data_ratio=100, hidden=8, train=train)
    results = run_decagon(folder, tmp_path / "out", config)
    assert [s["split"]["train"] for s in results["seeds"]] == [48, 48]
    assert set(results["test_mean_std"]) == {"genn", "gnn", "mlp"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| GENN |" in report and " ± " in report and "5.01%" in report
    assert json.loads((tmp_path / "out" / "results.json").read_text())["config"]["seeds"] == [1, 2]


def test_too_small_table_is_a_clear_error(tmp_path: Path) -> None:
    ddi = write_tiny_ddi(tmp_path / "ddi.csv", n_pairs=5)
    with pytest.raises(InputFileError, match="at least 20 known pairs"):
        train(ddi, tmp_path / "run", TrainConfig())
