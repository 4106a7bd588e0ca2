"""G-BERT ablation bench: attention arms × fine-tuning arms, one table.

Attention arms (all from the same MHA pre-training, except narrow MHA, pre-trained on its own):
MHA (4 heads), GQA-50% (contiguous groups, mean-pooled), narrow MHA (3 heads: the parameters of
DHA-50%), DHA-50% and DHA-25% (search → fusion → collapse → continued pre-training).
Fine-tuning arms: full fine-tuning, LoRA with the rank that matches MoR's adapter parameters, and
MoR (per-token routing). Every arm uses the same epochs, batch size and learning rate.

Columns: parameters of the serving model (the ontology tables are constants, not counted) and of
the K/V projections, trainable parameters, FLOPs per visit of the serving graph (torch's
FlopCounterMode on the batch-32 feed, divided by its real visits), onnxruntime latency (1 thread)
at batch 1 and 32 (median and p90), and Jaccard / PR-AUC / F1 / DDI rate on held-out patients
(mean over seeds; ± is the bootstrap std of ``training.metrics.bootstrap_metrics``, mean over
seeds). ONNX files for latency are written with the TorchScript exporter (``dynamo=False``), 15×
faster to export than the artifact path; the graph computes the same function (checked against
torch below each export).

Caveat: rows are timed one after another, so on a shared machine a change of load between rows
shows up as a latency difference; compare latencies only from a quiet machine, or by FLOPs.

Usage (one line)::

    OMP_NUM_THREADS=1 python bench/gbert.py --synthetic 500 --workdir var/bench-gbert
        --out var/bench-gbert/bench_gbert.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.contract.manifest import recommender_specs  # noqa: E402
from models.gbert.adapters import LoRALinear, MoRLinear  # noqa: E402
from models.gbert.config import AdapterConfig  # noqa: E402
from models.gbert.model import GBertRecommender  # noqa: E402
from training.data.dataset import Dataset  # noqa: E402
from training.data.vocab import Vocabularies  # noqa: E402
from training.gbert.batches import contract_feeds, encode_patient  # noqa: E402
from training.gbert.config import TrainConfig  # noqa: E402
from training.gbert.data import split_run  # noqa: E402
from training.gbert.export import GBertServing, roles  # noqa: E402
from training.gbert.run import train  # noqa: E402
from training.gbert.runs import graphs, load_model, read_run  # noqa: E402

NON_INFERIORITY_JACCARD = 0.005  # DHA-50% must reach MHA's Jaccard minus 0.5 points
LATENCY_GOAL = 0.15  # and be at least 15% faster at batch 32
ATTENTION = ["MHA", "GQA-50%", "narrow MHA", "DHA-50%", "DHA-25%"]
FINETUNE = ["full", "LoRA", "MoR"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, help="dataset directory (else --synthetic)")
    p.add_argument("--ddi", type=Path, help="DDI CSV (with --data)")
    p.add_argument("--synthetic", type=int, default=500, help="synthetic patients")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--pretrain-epochs", type=int, default=3)
    p.add_argument("--dha-epochs", type=int, default=1, help="continued pre-training epochs")
    p.add_argument("--fusion-epochs", type=int, default=2)
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--experts", type=int, default=4)
    p.add_argument("--reps", type=int, default=30, help="timed runs per latency feed")
    p.add_argument("--tiny", action="store_true", help="smoke test: hidden 32 instead of 300")
    return p.parse_args()


def synthetic(n: int, workdir: Path) -> tuple[Path, Path]:
    from app.contract.ddi_table import write_ddi_csv
    from training.data.dataset import write_dataset
    from training.data.synth import SynthConfig, generate_patients, synthetic_ddi_table

    data, ddi = workdir / "data", workdir / "ddi.csv"
    if not data.exists():
        cfg = SynthConfig(patients=n, seed=0)
        write_dataset(generate_patients(cfg), data, source_format="synthetic")
        write_ddi_csv(synthetic_ddi_table(cfg), ddi)
    return data, ddi


def stage(base: dict[str, Any], out: Path, **kw: Any) -> dict[str, Any]:
    """Run one stage unless its metrics.json exists (so the bench can resume).

    ``base`` and ``kw`` hold ``data``, ``ddi`` and ``init`` (paths or ``None``) and the
    :class:`TrainConfig` fields.
    """
    if (out / "metrics.json").is_file():
        return dict(json.loads((out / "metrics.json").read_text()))
    t = time.perf_counter()
    options = {**base, **kw}
    paths = {k: options.pop(k, None) for k in ("data", "ddi", "init")}
    metrics = train(
        Path(paths["data"]),
        out,
        TrainConfig(**options),
        init_dir=None if paths["init"] is None else Path(paths["init"]),
        ddi_path=None if paths["ddi"] is None else Path(paths["ddi"]),
    )
    print(f"  {out.name}: {time.perf_counter() - t:.0f} s", flush=True)
    return metrics


def lora_rank_for(run_dir: Path, rank: int, experts: int) -> tuple[int, int]:
    """Return the LoRA rank whose adapter parameters match MoR's, and MoR's count."""
    run = read_run(run_dir)
    ckpt_cfg = torch.load(run_dir / "best.ckpt", weights_only=True)["config"]
    from models.gbert.config import GBertConfig

    vocabs = Vocabularies.from_json(run["vocab"])
    model = GBertRecommender(GBertConfig.from_json(ckpt_cfg), *graphs(vocabs))
    model.encoder.add_adapters(AdapterConfig("mor", rank, experts))
    mors = [m for m in model.modules() if isinstance(m, MoRLinear)]
    mor_params = sum(p.numel() for m in mors for n, p in m.named_parameters() if "base" not in n)
    widths = sum(m.base.in_features + m.base.out_features for m in mors)
    return max(1, round(mor_params / widths)), mor_params


def kv_params(model: GBertRecommender) -> int:
    total = 0
    for attn in model.encoder.attention_layers():
        for proj in (attn.k_proj, attn.v_proj):
            base = proj.base if isinstance(proj, LoRALinear | MoRLinear) else proj
            total += base.weight.numel()
    return total


def export_legacy(wrapper: torch.nn.Module, feeds: dict[str, torch.Tensor], path: Path) -> None:
    model = wrapper.model
    assert isinstance(model, GBertRecommender)
    inputs, _ = recommender_specs(roles(model), model.encoder.config.num_meds)
    axes = {s.name: {i: d for i, d in enumerate(s.shape) if isinstance(d, str)} for s in inputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(feeds[s.name] for s in inputs),
            str(path),
            input_names=[s.name for s in inputs],
            output_names=["probabilities"],
            dynamic_axes={**axes, "probabilities": {0: "batch"}},
            opset_version=18,
            dynamo=False,
        )


def latency(
    session: ort.InferenceSession, feeds: list[dict[str, np.ndarray]], reps: int
) -> dict[str, float]:
    times = []
    for feed in feeds:
        session.run(None, feed)  # warm-up
        for _ in range(reps):
            t = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90))}


def serving_figures(run_dir: Path, test: list[Any], reps: int, workdir: Path) -> dict[str, Any]:
    model, run = load_model(run_dir)
    assert isinstance(model, GBertRecommender)
    wrapper = GBertServing(model).eval()
    b32 = contract_feeds(test[:32])
    singles = [contract_feeds([p]) for p in test[:16]]
    onnx_path = workdir / f"{run_dir.name}.onnx"
    export_legacy(wrapper, b32, onnx_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        parity = float(
            np.abs(
                session.run(None, {k: v.numpy() for k, v in b32.items()})[0]
                - wrapper(**b32).numpy()
            ).max()
        )
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            wrapper(**b32)
    visits = float(b32["visit_mask"].sum())
    return {
        "params": sum(p.numel() for p in wrapper.parameters()),
        "kv_params": kv_params(model),
        "flops_per_visit": counter.get_total_flops() / visits,
        "latency_b1": latency(
            session, [{k: v.numpy() for k, v in f.items()} for f in singles], reps
        ),
        "latency_b32": latency(session, [{k: v.numpy() for k, v in b32.items()}], reps),
        "onnx_parity": parity,
    }


def main() -> None:
    args = parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"Non-inferiority margin (stated before running): DHA-50% Jaccard >= MHA Jaccard - "
        f"{NON_INFERIORITY_JACCARD} (0.5 points), with >= {LATENCY_GOAL:.0%} lower ORT latency "
        f"at batch 32 (full fine-tuning arms).",
        flush=True,
    )
    data, ddi = (args.data, args.ddi) if args.data else synthetic(args.synthetic, args.workdir)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    per_seed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for seed in range(args.seeds):
        w = args.workdir / f"seed{seed}"
        base = {
            "data": str(data),
            "ddi": None if ddi is None else str(ddi),
            "seed": seed,
            "batch_size": 32,
            "codes": "diag",  # the paper's inputs: this bench's serving forms take no procedures
        }
        if args.tiny:
            base.update(hidden=32, head_dim=8, intermediate=32)
        pre = dict(base, epochs=args.pretrain_epochs)
        stage(pre, w / "pre-mha")
        stage(pre, w / "pre-narrow", heads=3)
        dha = dict(
            base,
            stage="dha",
            init=str(w / "pre-mha"),
            epochs=args.dha_epochs,
            fusion_epochs=args.fusion_epochs,
        )
        stage(dha, w / "gqa50", dha_method="gqa", kv_budget=0.5)
        stage(dha, w / "dha50", kv_budget=0.5)
        stage(dha, w / "dha25", kv_budget=0.25)
        inits = dict(
            zip(ATTENTION, ["pre-mha", "gqa50", "pre-narrow", "dha50", "dha25"], strict=True)
        )
        for arm, init in inits.items():
            lora_rank, _ = lora_rank_for(w / init, args.rank, args.experts)
            ft = dict(base, stage="finetune", init=str(w / init), epochs=args.finetune_epochs)
            for tune, kw in (
                ("full", {}),
                ("LoRA", {"adapter": "lora", "rank": lora_rank}),
                ("MoR", {"adapter": "mor", "rank": args.rank, "experts": args.experts}),
            ):
                out = w / f"ft-{init}-{tune.lower()}"
                metrics = stage(ft, out, **kw)
                per_seed.setdefault((arm, tune), []).append(
                    {
                        "run": str(out),
                        "test": metrics["test"],
                        "boot": metrics["test_bootstrap"],
                        "trainable": metrics["trainable_params"],
                        "lora_rank": kw.get("rank"),
                    }
                )
    first = args.workdir / "seed0"
    dataset = Dataset(data)
    run0 = read_run(first / "pre-mha")
    vocabs = Vocabularies.from_json(run0["vocab"])
    split = split_run(dataset.load(), TrainConfig(seed=0))
    test = [encode_patient(p, vocabs) for p in split.test]
    for key, seeds in per_seed.items():
        row: dict[str, Any] = {
            "attention": key[0],
            "finetune": key[1],
            "trainable_params": seeds[0]["trainable"],
            "lora_rank": seeds[0]["lora_rank"],
            "seeds": len(seeds),
        }
        for metric in ("jaccard", "prauc", "f1", "ddi_rate"):
            values = [s["test"][metric] for s in seeds]
            row[metric] = statistics.mean(values)
            row[f"{metric}_seed_std"] = statistics.pstdev(values)
            row[f"{metric}_boot_std"] = statistics.mean(s["boot"][metric]["std"] for s in seeds)
        row.update(serving_figures(Path(seeds[0]["run"]), test, args.reps, args.workdir))
        rows[key] = row
        print(f"  measured {key}", flush=True)
    print_table(list(rows.values()))
    verdict = compare(rows)
    print(verdict["text"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "margin_jaccard": NON_INFERIORITY_JACCARD,
                "latency_goal": LATENCY_GOAL,
                "rows": list(rows.values()),
                "verdict": verdict,
                "test_patients": len(test),
            },
            indent=2,
        )
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'attention':<11} {'FT':<5} {'params':>8} {'KV par':>7} {'train':>8} {'MFLOP/v':>8} "
        f"{'b1 med/p90 ms':>14} {'b32 med/p90 ms':>15} {'Jaccard':>14} {'PR-AUC':>7} "
        f"{'F1':>7} {'DDI':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        b1, b32 = r["latency_b1"], r["latency_b32"]
        print(
            f"{r['attention']:<11} {r['finetune']:<5} {r['params']:>8} {r['kv_params']:>7} "
            f"{r['trainable_params']:>8} {r['flops_per_visit'] / 1e6:>8.1f} "
            f"{b1['median_ms']:>6.2f}/{b1['p90_ms']:<7.2f} "
            f"{b32['median_ms']:>7.2f}/{b32['p90_ms']:<7.2f} "
            f"{r['jaccard']:.4f}±{r['jaccard_boot_std']:.4f} {r['prauc']:>7.4f} {r['f1']:>7.4f} "
            f"{r['ddi_rate']:>6.4f}"
        )


def compare(rows: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    mha, dha = rows[("MHA", "full")], rows[("DHA-50%", "full")]
    delta = dha["jaccard"] - mha["jaccard"]
    speedup = 1 - dha["latency_b32"]["median_ms"] / mha["latency_b32"]["median_ms"]
    ok_acc, ok_lat = delta >= -NON_INFERIORITY_JACCARD, speedup >= LATENCY_GOAL
    text = (
        f"DHA-50% vs MHA (full FT): ΔJaccard = {delta:+.4f} (margin -{NON_INFERIORITY_JACCARD}: "
        f"{'met' if ok_acc else 'NOT met'}); batch-32 latency {speedup:+.1%} lower "
        f"(goal {LATENCY_GOAL:.0%}: {'met' if ok_lat else 'NOT met'})."
    )
    return {
        "delta_jaccard": delta,
        "latency_reduction_b32": speedup,
        "non_inferior": ok_acc,
        "latency_goal_met": ok_lat,
        "text": text,
    }


if __name__ == "__main__":
    main()
