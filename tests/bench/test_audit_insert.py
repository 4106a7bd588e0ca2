"""bench/audit_insert.py runs end to end and writes both kinds' figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bench_writes_both_kinds_per_block(tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    cmd = [sys.executable, "bench/audit_insert.py", "--rows", "10000", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert set(result["us_per_row"]) == {"v4 (random)", "v7 (time-ordered)"}
    assert all(len(v) == 1 and v[0] > 0 for v in result["us_per_row"].values())
    assert result["ratio_v4_over_v7"] > 0
