"""GAMENet inference latency: onnxruntime vs torch eager, batch 1 and batch 256.

Both run the same export wrapper (memory bank precomputed) with the same thread count, on
random weights of MIMIC-III benchmark size (|diag| 1958, |proc| 1430, |med| 145, as in the
GAMENet data) unless --run-dir gives a trained run. Latency is per call, median and p99.

    OMP_NUM_THREADS=1 python bench/gamenet_infer.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from app.contract.manifest import recommender_specs
from models.gamenet import GAMENet, GAMENetConfig
from training.export.artifact import export_onnx
from training.gamenet.export import ROLES, GAMENetInference, random_feeds
from training.gamenet.steps import load_model

RESULTS = Path(__file__).parent / "results" / "gamenet_infer.json"


def _random_model(nd: int, np_: int, m: int) -> GAMENet:
    torch.manual_seed(0)
    ehr = torch.randint(0, m, (2, 4 * m))
    ddi = torch.randint(0, m, (2, m))
    return GAMENet(GAMENetConfig(num_diag_codes=nd, num_proc_codes=np_, num_meds=m), ehr, ddi)


def _time(fn: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(ms), "p99_ms": float(np.percentile(ms, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a trained run (default: random weights)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.run_dir:
        model = load_model(args.run_dir / "best.ckpt")[0]
    else:
        model = _random_model(1958, 1430, 145)
    cfg = model.config
    wrapper = GAMENetInference(model).eval()
    inputs, outputs = recommender_specs(ROLES, cfg.num_meds)
    sizes = (cfg.num_diag_codes, cfg.num_proc_codes, cfg.num_meds)
    example = random_feeds(*sizes, patients=4, max_visits=3, max_codes=4)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(wrapper, example, inputs, outputs, path)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rows = []
    # batch 1: a typical patient (3 visits, up to 16 diagnoses); batch 256: 1-5 visits each
    for batch, visits, codes in ((1, 3, 16), (256, 5, 16)):
        feeds = random_feeds(*sizes, patients=batch, max_visits=visits, max_codes=codes, seed=1)
        np_feeds = {k: v.numpy() for k, v in feeds.items()}
        repeats = args.repeats if batch == 1 else max(args.repeats // 10, 20)
        with torch.inference_mode():
            torch_ms = _time(lambda f=feeds: wrapper(*f.values()), repeats, 10)
        ort_ms = _time(lambda f=np_feeds: session.run(None, f), repeats, 10)
        t, o = _summary(torch_ms), _summary(ort_ms)
        rows.append(
            {
                "batch": batch,
                "torch": t,
                "onnxruntime": o,
                "speedup_median": t["median_ms"] / o["median_ms"],
                "repeats": repeats,
            }
        )
    print(
        f"{'batch':>5} {'torch med':>10} {'torch p99':>10} {'ort med':>9} {'ort p99':>9} {'x':>6}"
    )
    for r in rows:
        t, o = r["torch"], r["onnxruntime"]
        print(
            f"{r['batch']:>5} {t['median_ms']:>9.3f}m {t['p99_ms']:>9.3f}m "
            f"{o['median_ms']:>8.3f}m {o['p99_ms']:>8.3f}m {r['speedup_median']:>6.2f}"
        )
    result = {
        "rows": rows,
        "threads": args.threads,
        "model": "trained" if args.run_dir else "random weights, MIMIC-III size",
        "sizes": {"diag": sizes[0], "proc": sizes[1], "med": sizes[2]},
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
