"""Ingestion throughput of the MIMIC-IV, OMOP, Synthea and FHIR readers on a synthetic cohort.

The same synthetic patients (``training.data.synth``) are written in each format, then each reader
turns its export into a canonical Dataset (read + filters + atomic write). The baseline is the
MIMIC-III reader on the MIMIC-III export of the same cohort, measured in the same run. Each
measurement runs in a fresh process, so the peak RSS is that reader's own.

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/ingest_formats.py --patients 10000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

FORMATS = ("mimic3", "mimic4", "omop", "omop-parquet", "synthea", "fhir")


def _write(fmt: str, patients: int, seed: int, root: Path) -> dict[str, Any]:
    """Write the cohort in ``fmt``; return the reader options that read it back."""
    from training.data.synth import SynthConfig, generate_patients, write_mimic3_export
    from training.data.writers.fhir import write_fhir_export
    from training.data.writers.mimic4 import write_mimic4_export
    from training.data.writers.omop import write_omop_export
    from training.data.writers.synthea import write_synthea_export

    config = SynthConfig(patients=patients, seed=seed)
    out = root / fmt
    if fmt == "mimic3":
        write_mimic3_export(config, out)
        return {}
    cohort = generate_patients(config)
    if fmt == "mimic4":
        return {"atc_mapping": write_mimic4_export(cohort, out)}
    if fmt.startswith("omop"):
        write_omop_export(cohort, out, parquet=fmt == "omop-parquet")
        return {}
    if fmt == "synthea":
        maps = write_synthea_export(cohort, out)
        return {
            "snomed_conditions": maps.conditions,
            "snomed_procedures": maps.procedures,
            "atc_mapping": maps.medications,
        }
    write_fhir_export(cohort, out)
    return {}


def _ingest(fmt: str, export: Path, options: dict[str, Any], out: Path, queue: Any) -> None:
    start = time.perf_counter()
    if fmt == "mimic3":
        from training.data.mimic3 import Mimic3Config, ingest_mimic3

        manifest = ingest_mimic3(export, out, Mimic3Config())
    else:
        from training.data.export_formats import ExportOptions, ingest_export

        name = "omop" if fmt.startswith("omop") else fmt
        manifest = ingest_export(name, export, out, ExportOptions(**options))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "patients": manifest.patients,
            "visits": manifest.visits,
            "seconds": seconds,
            "peak_rss_mb": peak_mb,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--json", type=Path, default=Path("var/bench/ingest_formats.json"))
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    root = Path(tempfile.mkdtemp(prefix="medrec-bench-"))
    rows = []
    try:
        for fmt in args.formats.split(","):
            start = time.perf_counter()
            options = _write(fmt, args.patients, args.seed, root)
            write_s = time.perf_counter() - start
            queue = ctx.Queue()
            job = (fmt, root / fmt, options, root / f"{fmt}.ds", queue)
            proc = ctx.Process(target=_ingest, args=job)
            proc.start()
            row = {"format": fmt, "write_s": write_s, **queue.get()}
            proc.join()
            row["patients_per_s"] = args.patients / row["seconds"]
            rows.append(row)
            shutil.rmtree(root / fmt, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = next((r for r in rows if r["format"] == "mimic3"), None)
    print(f"{args.patients} synthetic patients (seed {args.seed}); read = ingest to a Dataset")
    header = ("format", "kept pts", "visits", "read s", "pts/s", "vs mimic3", "peak MB", "write s")
    print("{:<13}{:>9}{:>9}{:>9}{:>10}{:>10}{:>9}{:>9}".format(*header))
    for r in rows:
        ratio = base["seconds"] / r["seconds"] if base else float("nan")
        r["speed_vs_mimic3"] = ratio
        print(
            f"{r['format']:<13}{r['patients']:>9}{r['visits']:>9}{r['seconds']:>9.2f}"
            f"{r['patients_per_s']:>10.0f}{ratio:>10.2f}{r['peak_rss_mb']:>9.0f}"
            f"{r['write_s']:>9.2f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    summary = {"patients": args.patients, "seed": args.seed, "rows": rows}
    args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
