"""Recommender inference latency: onnxruntime vs torch eager at batch 1 and batch 32.

GAMENet: both run the same export wrapper (memory bank precomputed) with the same thread count,
on random weights of MIMIC-III benchmark size (|diag| 1958, |proc| 1430, |med| 145, as in the
GAMENet data) unless --run-dir gives a trained run. G-BERT: the serving wrapper
(``training/gbert/export.py``, past medications as their own rx tokens, roles ``med_ids`` and
``med_mask``) on random
weights of the same size with the official dimensions, exported the same way. Latency is per
call, median and p99; batch 1 is a typical patient (3 visits, up to 16 diagnoses), batch 32
patients of 1-5 visits.

    OMP_NUM_THREADS=1 python bench/gamenet_infer.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an install
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benches

from gbert import export_legacy  # noqa: E402

from app.contract.manifest import recommender_specs
from models.gamenet import GAMENet, GAMENetConfig
from models.gbert.config import GBertConfig
from models.gbert.model import GBertRecommender
from training.data.records import Code
from training.export.artifact import export_onnx
from training.gamenet.export import ROLES, GAMENetInference, random_feeds
from training.gamenet.steps import load_model
from training.gbert.batches import med_tokens
from training.gbert.export import GBertServing
from training.gbert.ontology import diagnosis_hierarchy, medication_hierarchy
from training.gbert.runs import code_graph

RESULTS = Path(__file__).parent / "results" / "gamenet_infer.json"


def _random_model(nd: int, np_: int, m: int) -> GAMENet:
    torch.manual_seed(0)
    ehr = torch.randint(0, m, (2, 4 * m))
    ddi = torch.randint(0, m, (2, m))
    return GAMENet(GAMENetConfig(num_diag_codes=nd, num_proc_codes=np_, num_meds=m), ehr, ddi)


def _random_gbert(nd: int, m: int) -> GBertServing:
    torch.manual_seed(0)
    diag = [Code("icd9cm", f"{100 + i * 3:03d}{i % 10}") for i in range(nd)]
    meds = [f"{g}{n:02d}{s}" for g in "ABCDGHJLMNRSV" for n in range(1, 10) for s in "AB"][:m]
    dx = code_graph(diagnosis_hierarchy(diag))
    rx = code_graph(medication_hierarchy(meds))
    return GBertServing(GBertRecommender(GBertConfig(num_diag_codes=nd, num_meds=m), dx, rx))


def _gbert_feeds(feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """G-BERT's feeds of the same patients: the medication history as ``med_ids`` / ``med_mask``."""
    return {
        "diag_ids": feeds["diag_ids"],
        "diag_mask": feeds["diag_mask"],
        **med_tokens(feeds["med_history"]),
        "visit_mask": feeds["visit_mask"],
    }


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


BATCHES = ((1, 3, 16), (32, 5, 16))  # (patients, most visits, most diagnoses per visit)


def _row(
    name: str,
    batch: int,
    module: torch.nn.Module,
    session: ort.InferenceSession,
    feeds: dict[str, torch.Tensor],
    repeats: int,
) -> dict[str, object]:
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    with torch.inference_mode():
        torch_ms = _time(lambda: module(**feeds), repeats, 10)
    ort_ms = _time(lambda: session.run(None, np_feeds), repeats, 10)
    t, o = _summary(torch_ms), _summary(ort_ms)
    return {
        "model": name,
        "batch": batch,
        "torch": t,
        "onnxruntime": o,
        "speedup_median": t["median_ms"] / o["median_ms"],
        "repeats": repeats,
    }


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
    gbert = _random_gbert(1958, 145).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gbert.onnx"
        example_g = _gbert_feeds(example)
        with torch.no_grad():
            export_legacy(gbert, example_g, path)
        gbert_session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rows = []
    for batch, visits, codes in BATCHES:
        feeds = random_feeds(*sizes, patients=batch, max_visits=visits, max_codes=codes, seed=1)
        repeats = args.repeats if batch == 1 else max(args.repeats // 10, 20)
        for name, module, sess in (
            ("gamenet", wrapper, session),
            ("gbert", gbert, gbert_session),
        ):
            f = _gbert_feeds(feeds) if name == "gbert" else feeds
            rows.append(_row(name, batch, module, sess, f, repeats))
    print(
        f"{'model':<8}{'batch':>5} {'torch med':>10} {'torch p99':>10} {'ort med':>9} "
        f"{'ort p99':>9} {'x':>6}"
    )
    for r in rows:
        t, o = r["torch"], r["onnxruntime"]
        print(
            f"{r['model']:<8}{r['batch']:>5} {t['median_ms']:>9.3f}m {t['p99_ms']:>9.3f}m "
            f"{o['median_ms']:>8.3f}m {o['p99_ms']:>8.3f}m {r['speedup_median']:>6.2f}"
        )
    result = {
        "rows": rows,
        "threads": args.threads,
        "model": "gamenet "
        + ("trained" if args.run_dir else "random weights, MIMIC-III size")
        + "; gbert random weights, MIMIC-III size, official dimensions",
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
