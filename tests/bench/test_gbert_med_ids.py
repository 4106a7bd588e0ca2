"""bench/gbert_med_ids.py on a trained ``diag+proc`` run: both feed forms score the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.gbert.conftest import DDI, tiny_config
from tests.training.gbert.factories import tiny_patients
from training.data.dataset import write_dataset
from training.gbert.run import train

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_bench_reads_a_run_whose_encoder_reads_procedures(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(tiny_patients(60, procedures=True), data, source_format="synthetic", ddi=DDI)
    train(data, tmp_path / "pre", tiny_config())
    train(data, tmp_path / "ft", tiny_config(stage="finetune"), init_dir=tmp_path / "pre")
    assert json.loads((tmp_path / "ft" / "run.json").read_text())["codes"] == "diag+proc"
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "bench/gbert_med_ids.py", "--run-dir", str(tmp_path / "ft")]
    cmd += ["--data", str(data), "--reps", "2", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    result = json.loads(out.read_text())
    assert result["test_patients"] > 0
    # The same function of the same patients, fed two ways.
    assert result["max_abs_probability_difference"] < 1e-5
    assert result["own tokens"]["jaccard"] == pytest.approx(result["all M, masked"]["jaccard"])
    assert result["latency_b1"]["own tokens"]["median_ms"] > 0
