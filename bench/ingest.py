"""Ingestion throughput on a synthetic MIMIC-III-layout export.

Each phase runs in its own child process, so that its peak RSS (``resource.getrusage``) is its own:

1. ``generate``: ``write_mimic3_export`` of N patients (generator + CSV writer, streamed);
2. ``csv-scan`` (baseline): read every row of the four tables with Python's ``csv`` module, nothing
   else: the floor any pure-Python reader pays;
3. ``ingest``: ``training.data.ingest.ingest("mimic3", ...)`` (polars preprocessing, every filter,
   atomic dataset write). An export of more than ``--chunk-patients`` patients (the reader's
   ``chunk_patients``, 100k by default) is read in passes of that many, so its peak RSS is that
   of one pass; the goal is under 4 GiB at 1M patients.
4. for each export format of ``--formats`` (those with a writer in ``training.data.writers``:
   MIMIC-IV, OMOP, Synthea, FHIR, MEDS): ``write-<fmt>`` writes the same cohort
   (``generate_patients``, same seed), then ``ingest-<fmt>`` runs the same dispatcher with the
   format's default filters; its time is compared with the MIMIC-III ``ingest`` of this run.

``--workdir`` with ``--reuse-export`` keeps an export generated before (e.g. by ``--phase
generate``, whose time and RSS it printed) instead of generating it again.

Usage::

    OMP_NUM_THREADS=1 POLARS_MAX_THREADS=1 python bench/ingest.py --patients 100000
    OMP_NUM_THREADS=1 POLARS_MAX_THREADS=1 python bench/ingest.py --patients 1000000 --formats ''
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
# the formats training.data.writers writes
WRITTEN_FORMATS = ("mimic4", "omop", "synthea", "fhir", "meds")
GOAL_MIB = 4096  # peak RSS of the 1M-patient MIMIC-III ingest


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


def phase_ingest(work: Path, chunk_patients: int | None) -> dict[str, object]:
    from training.data.ingest import ingest

    options = {} if chunk_patients is None else {"chunk_patients": chunk_patients}
    start = time.perf_counter()
    manifest = ingest("mimic3", work / "export", work / "dataset", options, overwrite=True)
    return {
        "seconds": time.perf_counter() - start,
        "patients_out": manifest.patients,
        "visits_out": manifest.visits,
        "chunk_patients": manifest.extra["config"]["chunk_patients"],
    }


def phase_write_format(work: Path, fmt: str, patients: int, seed: int) -> dict[str, object]:
    from training.data.synth import SynthConfig, generate_patients
    from training.data.writers.fhir import write_fhir_export
    from training.data.writers.meds import write_meds_export
    from training.data.writers.mimic4 import write_mimic4_export
    from training.data.writers.omop import write_omop_export
    from training.data.writers.synthea import write_synthea_export

    start = time.perf_counter()
    cohort, out = generate_patients(SynthConfig(patients=patients, seed=seed)), work / fmt
    options: dict[str, str] = {}
    if fmt == "mimic4":
        options["atc_mapping"] = str(write_mimic4_export(cohort, out))
    elif fmt == "omop":
        write_omop_export(cohort, out)  # with concept tables: the vocabulary route
    elif fmt == "synthea":
        maps = write_synthea_export(cohort, out)
        options = {"snomed_conditions": str(maps.conditions),
                   "snomed_procedures": str(maps.procedures),
                   "atc_mapping": str(maps.medications)}  # fmt: skip
    elif fmt == "meds":
        write_meds_export(cohort, out)
    else:
        write_fhir_export(cohort, out)
    (work / f"{fmt}.options.json").write_text(json.dumps(options))
    return {"seconds": time.perf_counter() - start}


def phase_ingest_format(work: Path, fmt: str) -> dict[str, object]:
    from training.data.ingest import ingest

    given = json.loads((work / f"{fmt}.options.json").read_text())
    options = {k: Path(v) for k, v in given.items()}
    start = time.perf_counter()
    manifest = ingest(fmt, work / fmt, work / f"{fmt}.dataset", options, overwrite=True)
    return {
        "seconds": time.perf_counter() - start,
        "patients_out": manifest.patients,
        "visits_out": manifest.visits,
    }


def _child(
    phase: str,
    work: Path,
    patients: int,
    seed: int,
    fmt: str | None = None,
    chunk_patients: int | None = None,
) -> dict[str, object]:
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
        *(["--format", fmt] if fmt else []),
        *(["--chunk-patients", str(chunk_patients)] if chunk_patients else []),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _reused(work: Path, patients: int) -> dict[str, object]:
    """The generate phase's record for an export made before (its time is not measured here)."""
    rows = {}
    for name in TABLES:
        with open(work / "export" / name, "rb") as fh:
            rows[name] = sum(1 for _ in fh) - 1
    return {"seconds": float("nan"), "rows": rows, "patients": patients, "peak_rss_mib": 0.0}


def _git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(
    patients: int,
    seed: int,
    work: Path,
    formats: list[str],
    *,
    chunk_patients: int | None = None,
    reuse_export: bool = False,
) -> dict[str, object]:
    if reuse_export and (work / "export" / "SYNTHETIC.json").is_file():
        gen = _reused(work, patients)
    else:
        gen = _child("generate", work, patients, seed)
    scan = _child("csv-scan", work, patients, seed)
    ing = _child("ingest", work, patients, seed, chunk_patients=chunk_patients)
    per_format = {}
    for fmt in formats:
        written = _child("write-format", work, patients, seed, fmt)
        read = _child("ingest-format", work, patients, seed, fmt)
        shutil.rmtree(work / fmt, ignore_errors=True)
        per_format[fmt] = {
            "write": written,
            **read,
            "patients_per_s": patients / read["seconds"],  # type: ignore[operator]
            "vs_mimic3_ingest": read["seconds"] / ing["seconds"],  # type: ignore[operator]
        }
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
        "formats": per_format,
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
    verdict = "under" if ing["peak_rss_mib"] < GOAL_MIB else "OVER"
    print(
        f"ingest peak RSS {ing['peak_rss_mib']:.0f} MiB in passes of {ing['chunk_patients']} "
        f"patients: {verdict} the {GOAL_MIB} MiB goal"
    )
    formats = r.get("formats") or {}
    assert isinstance(formats, dict)
    if formats:
        head = (
            "reader",
            "seconds",
            "patients/s",
            "t / mimic3",
            "peak RSS MiB",
            "kept pts",
            "visits",
        )
        print("{:<16}{:>10}{:>12}{:>11}{:>14}{:>10}{:>13}".format(*head))
    for fmt, f in formats.items():
        print(
            f"{'ingest-' + fmt:<16}{f['seconds']:>10.1f}{f['patients_per_s']:>12.0f}"
            f"{f['vs_mimic3_ingest']:>10.2f}x{f['peak_rss_mib']:>14.0f}"
            f"{f['patients_out']:>10}{f['visits_out']:>13}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.json")
    parser.add_argument(
        "--phase",
        choices=("generate", "csv-scan", "ingest", "write-format", "ingest-format"),
        default=None,
    )
    parser.add_argument("--format", choices=WRITTEN_FORMATS, default=None)
    parser.add_argument("--formats", default=",".join(WRITTEN_FORMATS), help="'' skips them")
    parser.add_argument("--chunk-patients", type=int, default=None, help="mimic3 pass size")
    parser.add_argument("--reuse-export", action="store_true", help="keep workdir/export")
    args = parser.parse_args()
    if args.phase:
        phases = {
            "generate": lambda: phase_generate(args.workdir, args.patients, args.seed),
            "csv-scan": lambda: phase_csv_scan(args.workdir),
            "ingest": lambda: phase_ingest(args.workdir, args.chunk_patients),
            "write-format": lambda: phase_write_format(
                args.workdir, args.format, args.patients, args.seed
            ),
            "ingest-format": lambda: phase_ingest_format(args.workdir, args.format),
        }
        result = phases[args.phase]()
        print(json.dumps({**result, "peak_rss_mib": _peak_rss_mib()}))
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="medrec-bench-"))
    try:
        formats = [f for f in args.formats.split(",") if f]
        results = run(
            args.patients,
            args.seed,
            work,
            formats,
            chunk_patients=args.chunk_patients,
            reuse_export=args.reuse_export,
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    _print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
