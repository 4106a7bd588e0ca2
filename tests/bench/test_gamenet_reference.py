"""The reference-parity harness still runs against the current training API (a tiny smoke)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "gamenet-official"

pytestmark = pytest.mark.slow


def test_the_harness_compares_the_official_code_and_medrec(tmp_path: Path) -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is absent: the official GAMENet code is not here")
    tag = f"pytest-{os.getpid()}"
    cmd = [sys.executable, "bench/gamenet_reference.py", "--patients", "300", "--epochs", "1"]
    cmd += ["--runs", "batched", "--tag", tag]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    out = ROOT / "bench" / "results" / f"gamenet_reference-{tag}.json"
    try:
        result = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
        out.with_suffix(".png").unlink(missing_ok=True)
    systems = [row["system"] for row in result["rows"]]
    assert systems == ["official", "medrec batched"]
    for row in result["rows"]:
        assert 0.0 < row["test"]["jaccard"] < 1.0
