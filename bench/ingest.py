"""Ingestion throughput on a synthetic MIMIC-III-layout export.

Each phase runs in its own child process, so that its peak RSS (``resource.getrusage``) is its own:

1. ``generate``: ``write_mimic3_export`` of N patients (generator + CSV writer, streamed);
2. ``csv-scan`` (baseline): read every row of the four tables with Python's ``csv`` module, nothing
   else: the floor any pure-Python reader pays;
3. ``ingest``: ``ingest_mimic3`` (polars preprocessing, every filter, atomic dataset write).

Usage::

    OMP_NUM_THREADS=1 POLARS_MAX_THREADS=1 python bench/ingest.py --patients 100000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLES = ("ADMISSIONS.csv", "DIAGNOSES_ICD.csv", "PROCEDURES_ICD.csv", "PRESCRIPTIONS.csv")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def phase_generate(work: Path, patients: int, seed: int) -> dict[str, object]:
    from training.data.synth import SynthConfig, write_mimic3_export

    start = time.perf_counter()
    counts = write_mimic3_export(SynthConfig(patients=patients, seed=seed), work / "export")
    return {"seconds": time.perf_counter() - start, "rows": counts, "patients": patients}


def phase_csv_scan(work: Path) -> dict[str, object]:
    start = time.perf_counter()
    rows = 0
    for name in TABLES:
        with open(work / "export" / name, newline="", encoding="utf-8") as fh:
            rows += sum(1 for _ in csv.reader(fh)) - 1
    return {"seconds": time.perf_counter() - start, "rows": rows}


def phase_ingest(work: Path) -> dict[str, object]:
    from training.data.mimic3 import Mimic3Config, ingest_mimic3

    start = time.perf_counter()
    manifest = ingest_mimic3(work / "export", work / "dataset", Mimic3Config(), overwrite=True)
    return {
        "seconds": time.perf_counter() - start,
        "patients_out": manifest.patients,
        "visits_out": manifest.visits,
    }


def _child(phase: str, work: Path, patients: int, seed: int) -> dict[str, object]:
    cmd = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--workdir",
        str(work),
        "--patients",
        str(patients),
        "--seed",
        str(seed),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(patients: int, seed: int, work: Path) -> dict[str, object]:
    gen = _child("generate", work, patients, seed)
    scan = _child("csv-scan", work, patients, seed)
    ing = _child("ingest", work, patients, seed)
    visits = gen["rows"]["ADMISSIONS.csv"]  # type: ignore[index]
    results = {
        "patients": patients,
        "visits": visits,
        "seed": seed,
        "export_mib": round(sum((work / "export" / t).stat().st_size for t in TABLES) / 2**20, 1),
        "generate": {
            **gen,
            "patients_per_s": patients / gen["seconds"],
            "visits_per_s": visits / gen["seconds"],
        },
        "csv_scan_baseline": {**scan, "patients_per_s": patients / scan["seconds"]},
        "ingest": {
            **ing,
            "patients_per_s": patients / ing["seconds"],
            "visits_per_s": visits / ing["seconds"],
            "vs_csv_scan": ing["seconds"] / scan["seconds"],
        },
        "env": {
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS"),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "git_sha": _git_sha(),
        },
    }
    return results


def _print_table(r: dict[str, object]) -> None:
    print(f"{r['patients']} patients, {r['visits']} visits, export {r['export_mib']} MiB")
    print(f"{'phase':<22}{'seconds':>10}{'patients/s':>12}{'visits/s':>12}{'peak RSS MiB':>14}")
    for key in ("generate", "csv_scan_baseline", "ingest"):
        p = r[key]
        assert isinstance(p, dict)
        visits = p.get("visits_per_s")
        print(
            f"{key:<22}{p['seconds']:>10.1f}{p['patients_per_s']:>12.0f}"
            f"{(f'{visits:.0f}' if visits else '-'):>12}{p['peak_rss_mib']:>14.0f}"
        )
    ing = r["ingest"]
    assert isinstance(ing, dict)
    print(
        f"ingest / csv-scan time ratio: {ing['vs_csv_scan']:.2f} "
        f"(kept {ing['patients_out']} patients, {ing['visits_out']} visits)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.json")
    parser.add_argument("--phase", choices=("generate", "csv-scan", "ingest"), default=None)
    args = parser.parse_args()
    if args.phase:
        phases = {
            "generate": lambda: phase_generate(args.workdir, args.patients, args.seed),
            "csv-scan": lambda: phase_csv_scan(args.workdir),
            "ingest": lambda: phase_ingest(args.workdir),
        }
        result = phases[args.phase]()
        print(json.dumps({**result, "peak_rss_mib": _peak_rss_mib()}))
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="medrec-bench-"))
    try:
        results = run(args.patients, args.seed, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    _print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
