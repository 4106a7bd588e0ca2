"""GAMENet training: batched vs reference mode, time to reach the reference's best val Jaccard.

Both modes train the same model from the same seed on the same synthetic data (MIMIC-III size by
default: 6,350 patients), with the same evaluation code after every epoch. The reference mode
(one Adam step per visit, lr 2e-4, as the official code) runs ``--reference-epochs`` epochs; its
best validation Jaccard J_ref and the training time it took to reach it, T_ref, are recorded. The
batched mode then trains until its validation Jaccard is >= J_ref (or ``--max-batched-epochs``),
taking T_batched. Speed-up = T_ref / T_batched. Times are training time only (forward, backward,
optimiser, batching), summed over epochs; the per-epoch validation pass is identical in both
modes and excluded. Wall and process CPU time are both reported (CPU time is steadier on a shared
machine).

    OMP_NUM_THREADS=1 python bench/gamenet_train.py --reference-epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.contract.ddi_table import write_ddi_csv
from training.data.dataset import write_dataset
from training.data.splits import SplitConfig
from training.data.synth import SynthConfig, generate_patients, synthetic_ddi_table
from training.fit import EpochEnd, StopTraining, seed_everything
from training.gamenet.config import TrainConfig
from training.gamenet.data import PreparedData, prepare_data
from training.gamenet.run import build_model, fit_gamenet
from training.gamenet.steps import epoch_batches

RESULTS = Path(__file__).parent / "results" / "gamenet_train.json"


def make_dataset(patients: int, seed: int, root: Path) -> Path:
    """Write a synthetic dataset with its own ddi.csv under ``root``."""
    config = SynthConfig(patients=patients, seed=seed)
    out = root / "synthetic"
    write_dataset(generate_patients(config), out, source_format="synthetic")
    write_ddi_csv(synthetic_ddi_table(config), out / "ddi.csv")
    return out


def run_mode(
    data: PreparedData, config: TrainConfig, *, stop_at: float | None = None
) -> list[dict[str, float]]:
    """Train ``config.epochs`` epochs (or until val Jaccard >= ``stop_at``); one row per epoch."""
    seed_everything(config.seed)
    model = build_model(data, config.seed)
    steps = len(epoch_batches(data.train, config, np.random.default_rng(0)))  # same every epoch
    rows: list[dict[str, float]] = []
    cpu = 0.0

    def record(end: EpochEnd) -> None:
        nonlocal cpu
        row = end.row
        cpu += row["train_cpu_seconds"]
        rows.append(
            {
                "epoch": end.epoch,
                "val_jaccard": row["val_jaccard"],
                "val_ddi_rate": row["val_ddi_rate"],
                "steps": steps,
                "epoch_wall_s": row["train_seconds"],
                "cum_wall_s": row["cumulative_train_seconds"],
                "cum_cpu_s": cpu,
            }
        )
        print(
            f"{config.mode:>9} epoch {end.epoch:>2}: val jaccard {row['val_jaccard']:.4f} "
            f"({steps} steps, {row['train_seconds']:.1f} s wall, "
            f"{row['train_cpu_seconds']:.1f} s cpu)",
            flush=True,
        )
        if stop_at is not None and row["val_jaccard"] >= stop_at:
            raise StopTraining

    fit_gamenet(model, data, config, callbacks=[record])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="GAMENet batched vs reference training time.")
    parser.add_argument("--patients", type=int, default=6350)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-epochs", type=int, default=2)
    parser.add_argument("--max-batched-epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=None, help="batched lr (default: config's)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with tempfile.TemporaryDirectory() as tmp:
        dataset = make_dataset(args.patients, args.seed, Path(tmp))
        data = prepare_data(dataset, SplitConfig(method="literature"))
    train_visits = sum(p.num_visits for p in data.train)
    print(f"train: {len(data.train)} patients, {train_visits} visits, {len(data.vocabs.med)} meds")
    ref_cfg = TrainConfig(mode="reference", epochs=args.reference_epochs, seed=args.seed)
    ref = run_mode(data, ref_cfg)
    best = max(ref, key=lambda r: r["val_jaccard"])
    bat_cfg = TrainConfig(
        mode="batched",
        epochs=args.max_batched_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    bat = run_mode(data, bat_cfg, stop_at=best["val_jaccard"])
    reached = bat[-1]["val_jaccard"] >= best["val_jaccard"]
    result: dict[str, Any] = {
        "target_val_jaccard": best["val_jaccard"],
        "reference": {"config": ref_cfg.to_json(), "epochs": ref, "reached_at": best},
        "batched": {"config": bat_cfg.to_json(), "epochs": bat, "reached": reached},
        "data": {
            "patients": args.patients,
            "visits": data.dataset["visits"],
            "train_visits": train_visits,
            "meds": len(data.vocabs.med),
            "split": data.dataset["split"]["counts"],
        },
        "threads": torch.get_num_threads(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "torch": torch.__version__,
    }
    if reached:
        result["speedup_wall"] = best["cum_wall_s"] / bat[-1]["cum_wall_s"]
        result["speedup_cpu"] = best["cum_cpu_s"] / bat[-1]["cum_cpu_s"]
    print()
    print(f"{'mode':>9} {'epochs':>6} {'val jaccard':>11} {'wall s':>8} {'cpu s':>8}")
    print(
        f"{'reference':>9} {best['epoch']:>6} {best['val_jaccard']:>11.4f} "
        f"{best['cum_wall_s']:>8.1f} {best['cum_cpu_s']:>8.1f}"
    )
    last = bat[-1]
    print(
        f"{'batched':>9} {last['epoch']:>6} {last['val_jaccard']:>11.4f} "
        f"{last['cum_wall_s']:>8.1f} {last['cum_cpu_s']:>8.1f}"
    )
    if reached:
        print(f"speed-up: {result['speedup_wall']:.1f}x wall, {result['speedup_cpu']:.1f}x cpu")
    else:
        print("batched mode did not reach the reference's best val Jaccard")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
