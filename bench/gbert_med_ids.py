"""G-BERT serving: past medications as their own tokens (``med_ids``) against all M tokens masked.

One ONNX export of the serving wrapper, two feeds of the same patients:

- **own tokens**: ``med_ids`` / ``med_mask`` as the service builds them (each past visit's
  medications, padded to the longest);
- **all M, masked** (the feed before the ``med_ids`` role): ``med_ids`` = ``0..M-1`` on every
  visit and ``med_mask`` = the multi-hot history, which is exactly what the old ``med_history``
  wrapper computed inside the graph.

With ``--run-dir`` (a fine-tuned run) and its dataset, both feeds score every visit of every test
patient of the run's split in onnxruntime (visit ``t`` as the last visit of the patient's first
``t + 1`` visits), and the metrics of ``training.metrics`` are compared at the run's threshold.
Latency: median and p90 of one ``session.run`` at batch 1 (the first 50 test patients, whole) and
batch 32, with both feeds timed alternately in the same process. Without ``--run-dir``, random
weights of MIMIC-III size (|diag| 1958, |med| 145, official dimensions) and random patients.

    OMP_NUM_THREADS=1 python bench/gbert_med_ids.py --run-dir RUN --data DATASET
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an install
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benches

from gbert import export_legacy  # noqa: E402

from models.gbert.model import GBertRecommender  # noqa: E402
from training.data.dataset import Dataset  # noqa: E402
from training.data.vocab import Vocabularies  # noqa: E402
from training.gbert.batches import EncodedVisit, contract_feeds, encode_patient  # noqa: E402
from training.gbert.config import TrainConfig  # noqa: E402
from training.gbert.data import ddi_graph, split_run  # noqa: E402
from training.gbert.export import GBertServing, example_feeds, serving_module  # noqa: E402
from training.gbert.runs import load_model  # noqa: E402
from training.metrics import recommendation_metrics  # noqa: E402

Feeds = dict[str, np.ndarray]


def all_m(feeds: Feeds, num_meds: int) -> Feeds:
    """The same patients fed as before the ``med_ids`` role: all M tokens under the history mask."""
    b, v, _ = feeds["med_ids"].shape
    history = np.zeros((b, v, num_meds), dtype=np.float32)
    rows, visits, cols = np.nonzero(feeds["med_mask"])
    history[rows, visits, feeds["med_ids"][rows, visits, cols]] = 1.0
    ids = np.broadcast_to(np.arange(num_meds, dtype=np.int64), (b, v, num_meds)).copy()
    return {**feeds, "med_ids": ids, "med_mask": history}


def numpy_feeds(patients: Sequence[Sequence[EncodedVisit]], procedures: bool = False) -> Feeds:
    """The contract feeds of ``patients`` (each predicted at its last visit) as numpy."""
    return {k: t.numpy() for k, t in contract_feeds(patients, procedures).items()}


def session_of(wrapper: GBertServing, example: dict[str, torch.Tensor], path: Path) -> Any:
    """Export ``wrapper`` as bench/gbert.py does and open one 1-thread session."""
    export_legacy(wrapper, example, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def scores(
    session: Any, patients: Sequence[Sequence[EncodedVisit]], m: int, full: bool, procedures: bool
) -> Any:
    """Probabilities ``[V_p, M]`` of every visit of every patient (prefixes in batches of 64)."""
    prefixes = [(i, p[: t + 1]) for i, p in enumerate(patients) for t in range(len(p))]
    out: list[list[np.ndarray]] = [[] for _ in patients]
    for s in range(0, len(prefixes), 64):
        part = prefixes[s : s + 64]
        feeds = numpy_feeds([p for _, p in part], procedures)
        probs = session.run(None, all_m(feeds, m) if full else feeds)[0]
        for (i, _), row in zip(part, probs, strict=True):
            out[i].append(row)
    return [np.stack(rows) for rows in out]


def timed(session: Any, feeds: list[tuple[Feeds, Feeds]], reps: int) -> dict[str, dict[str, float]]:
    """Median / p90 ms of each feed form, the two forms alternating call by call."""
    times: dict[str, list[float]] = {"own tokens": [], "all M, masked": []}
    for own, full in feeds:
        for feed in (own, full):
            session.run(None, feed)  # warm-up of this shape
        for _ in range(reps):
            for name, feed in (("own tokens", own), ("all M, masked", full)):
                t = time.perf_counter()
                session.run(None, feed)
                times[name].append((time.perf_counter() - t) * 1e3)
    return {
        k: {"median_ms": statistics.median(v), "p90_ms": float(np.percentile(v, 90))}
        for k, v in times.items()
    }


def random_setup() -> tuple[GBertServing, list[list[EncodedVisit]], int]:
    """Random weights of MIMIC-III size and 64 random patients of 1-5 visits."""
    from gamenet_infer import _random_gbert

    wrapper = _random_gbert(1958, 145).eval()
    rng = np.random.default_rng(1)
    patients = [
        [
            EncodedVisit(
                tuple(sorted(rng.choice(1958, rng.integers(1, 17), replace=False).tolist())),
                tuple(sorted(rng.choice(145, rng.integers(1, 21), replace=False).tolist())),
            )
            for _ in range(rng.integers(1, 6))
        ]
        for _ in range(64)
    ]
    return wrapper, patients, 145


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a fine-tuned G-BERT run")
    parser.add_argument("--data", type=Path, help="the run's dataset (with --run-dir)")
    parser.add_argument("--reps", type=int, default=20, help="timed calls per feed and form")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    procedures = False
    if args.run_dir:
        model, run = load_model(args.run_dir)
        assert isinstance(model, GBertRecommender), "--run-dir needs a fine-tuned run"
        procedures = model.encoder.config.use_procedures
        wrapper = serving_module(model)
        vocabs = Vocabularies.from_json(run["vocab"])
        split = split_run(Dataset(args.data).load(), TrainConfig(**run["run_config"]))
        patients = [encode_patient(p, vocabs, procedures) for p in split.test]
        m = len(vocabs.med)
    else:
        wrapper, patients, m = random_setup()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = wrapper.model.encoder.config
        example = example_feeds(
            cfg.num_diag_codes, m, num_proc=cfg.num_proc_codes if procedures else 0
        )
        session = session_of(wrapper, example, Path(tmp) / "g.onnx")
        if args.run_dir:
            ddi_adj, _ = ddi_graph(args.data, None, vocabs)
            y_true = [np.stack([np.isin(np.arange(m), v.rx) for v in p]) for p in patients]
            threshold = float(run["run_config"]["threshold"])
            for name, full in (("own tokens", False), ("all M, masked", True)):
                probs = scores(session, patients, m, full, procedures)
                result[name] = recommendation_metrics(
                    y_true, probs, threshold=threshold, ddi_adj=ddi_adj
                )
                result[f"{name} probabilities"] = probs
            gap = max(
                float(np.abs(a - b).max())
                for a, b in zip(
                    result.pop("own tokens probabilities"),
                    result.pop("all M, masked probabilities"),
                    strict=True,
                )
            )
            result["max_abs_probability_difference"] = gap
            result["test_patients"] = len(patients)
            result["test_visits"] = sum(len(p) for p in patients)
        b1 = [numpy_feeds([p], procedures) for p in patients[:50]]
        b1_pairs = [(f, all_m(f, m)) for f in b1]
        f32 = numpy_feeds(patients[:32], procedures)
        result["latency_b1"] = timed(session, b1_pairs, max(1, args.reps // 10))
        result["latency_b32"] = timed(session, [(f32, all_m(f32, m))], args.reps)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
