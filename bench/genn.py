"""GENN benchmark: the encoder's convolution, seconds per epoch, pair-scoring throughput.

Usage (from the repo root; the project is not installed, hence PYTHONPATH)::

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/genn.py --decagon ../shared/data/ddi/decagon

- Encoder: one forward + backward of GENN's encoder (D = 100) on the Decagon encoder graph,
  with :class:`~models.genn.EdgeConditionedConv` against PyG's ``NNConv`` holding the same
  weights, measured in this run (their ratio is the figure to trust on a shared machine).
- Training epochs are full-batch on GENN's Decagon split (seed 1, data_ratio 10) and include the
  validation pass; GENN's epoch is one inference step + one energy step.
- Throughput scores random drug pairs with the exported ψ-over-constant-embeddings graph:
  onnxruntime (1 intra-op thread) against the same torch module (1 thread, no_grad).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch_geometric.nn import NNConv

from app.contract.manifest import TensorSpec
from models.genn import GENNConfig, GENNEncoder
from training.export.artifact import export_onnx
from training.genn.config import OptimConfig
from training.genn.data import GraphTensors
from training.genn.export import PairScorer
from training.genn.graph import GraphSplit, load_decagon
from training.genn.run import train_models
from training.genn.steps import history_json

BATCHES = (1, 64, 1024, 16384)


def time_epochs(split: GraphSplit, epochs: int) -> tuple[dict[str, float], GraphTensors, object]:
    g = GraphTensors.from_split(split)
    mc = GENNConfig(num_features=split.x.shape[1], num_types=split.num_types)
    tc = OptimConfig(mlp_epochs=epochs, pretrain_epochs=epochs, genn_epochs=epochs, patience=epochs)
    result = train_models(split, mc, tc)
    secs = {k: history_json(h)["seconds_per_epoch"] for k, h in result.histories.items()}
    return secs, g, result.genn


def _seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def encoder_costs(g: GraphTensors, num_types: int, repeats: int = 3) -> dict[str, float]:
    """Seconds per forward + backward of the encoder: factorised conv vs NNConv, same weights."""
    torch.manual_seed(0)
    fast = GENNEncoder(GENNConfig(num_features=g.x.shape[1], num_types=num_types))
    slow = GENNEncoder(GENNConfig(num_features=g.x.shape[1], num_types=num_types))
    for name in ("conv1", "conv2"):
        conv = getattr(fast, name)
        ref = NNConv(conv.in_channels, conv.out_channels, getattr(slow, name).nn, aggr="mean")
        ref.load_state_dict(conv.state_dict())
        setattr(slow, name, ref)
    slow.norm.load_state_dict(fast.norm.state_dict())
    with torch.no_grad():
        diff = (fast(g.x, g.enc_index, g.enc_attr) - slow(g.x, g.enc_index, g.enc_attr)).abs().max()

    def step(encoder: GENNEncoder) -> None:
        encoder(g.x, g.enc_index, g.enc_attr).square().mean().backward()

    fast_s = _seconds(lambda: step(fast), repeats)
    slow_s = _seconds(lambda: step(slow), repeats)
    return {
        "edges": int(g.enc_index.shape[1]),
        "nnconv_s": slow_s,
        "factorised_s": fast_s,
        "speedup": slow_s / fast_s,
        "max_abs_diff": float(diff),
    }


def _rate(fn, n_pairs: int, min_seconds: float = 0.5) -> float:
    fn()  # warm-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        runs += 1
    return runs * n_pairs / (time.perf_counter() - start)


def throughput(g: GraphTensors, model) -> list[dict[str, float]]:
    model.eval()
    with torch.no_grad():
        h = model.encode(g.x, g.enc_index, g.enc_attr)
    scorer = PairScorer(h, model.psi).eval()
    n, t = h.shape[0], model.config.num_types
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(
            scorer,
            {"pairs": torch.zeros(4, 2, dtype=torch.int64)},
            [TensorSpec(name="pairs", role="pairs", dtype="int64", shape=["P", 2])],
            [
                TensorSpec(
                    name="type_probabilities",
                    role="type_probabilities",
                    dtype="float32",
                    shape=["P", t],
                )
            ],
            path,
        )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        rows = []
        rng = np.random.default_rng(0)
        for batch in BATCHES:
            pairs = rng.integers(0, n, size=(batch, 2)).astype(np.int64)
            tp = torch.from_numpy(pairs)

            def run_torch(tp: torch.Tensor = tp) -> None:
                with torch.no_grad():
                    scorer(tp)

            def run_ort(pairs: np.ndarray = pairs) -> None:
                session.run(None, {"pairs": pairs})

            ort_rate, torch_rate = _rate(run_ort, batch), _rate(run_torch, batch)
            rows.append(
                {
                    "batch": batch,
                    "ort_pairs_per_s": ort_rate,
                    "torch_pairs_per_s": torch_rate,
                    "ort_over_torch": ort_rate / torch_rate,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decagon", type=Path, default=Path("../shared/data/ddi/decagon"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/genn.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    split = load_decagon(args.decagon, seed=1, data_ratio=10)
    enc = encoder_costs(GraphTensors.from_split(split), split.num_types)
    print(
        f"encoder fwd+bwd ({enc['edges']} edges): NNConv {enc['nnconv_s']:.3f} s, factorised "
        f"{enc['factorised_s']:.3f} s, speedup {enc['speedup']:.1f}x "
        f"(max |diff| {enc['max_abs_diff']:.1e})\n"
    )
    secs, g, model = time_epochs(split, args.epochs)
    print(f"{'phase':<6} {'s/epoch':>9}   (Decagon seed 1, ratio 10, {args.epochs} epochs)")
    for name, s in secs.items():
        print(f"{name:<6} {s:>9.3f}")
    rows = throughput(g, model)
    print(f"\n{'batch':>6} {'ORT pairs/s':>13} {'torch pairs/s':>14} {'ORT/torch':>10}")
    for r in rows:
        print(
            f"{r['batch']:>6} {r['ort_pairs_per_s']:>13,.0f} {r['torch_pairs_per_s']:>14,.0f} "
            f"{r['ort_over_torch']:>10.2f}"
        )
    result = {
        "encoder": enc,
        "seconds_per_epoch": secs,
        "throughput": rows,
        "epochs": args.epochs,
        "threads": 1,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
