"""Train GAMENet end to end and write the run directory.

``RUN_DIR`` gets ``run.json`` (model, configs, seed, git sha, versions, data), ``vocab.json``,
``best.ckpt`` / ``last.ckpt``, ``metrics.json``, ``curves.png`` and ``report.md``. The checkpoint
with the best validation Jaccard is reported on the test split, beside the baselines, at the
configured threshold and at the one tuned on validation (``tuned_threshold``, which the export
serves).

Example::

    medrec train gamenet --data var/datasets/synthetic --out runs/gamenet --epochs 40
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.contract.jobs import EpochCallback
from models.gamenet import GAMENet, GAMENetConfig
from training.baselines import baseline_table
from training.curves import plot_curves
from training.data.splits import SplitConfig
from training.distributed import Dist, session, uneven
from training.fit import (
    Bar,
    Callback,
    CheckpointWriter,
    EpochEnd,
    FitResult,
    Monitor,
    fit,
    report_epoch,
    seed_everything,
)
from training.gamenet.config import TrainConfig
from training.gamenet.data import PreparedData, prepare_data
from training.gamenet.report import write_report
from training.gamenet.steps import checkpoint, evaluate, load_model, targets_of, train_one_epoch
from training.graphs import edge_index
from training.metrics import bootstrap_metrics, ddi_rate, recommendation_metrics, tune_threshold
from training.provenance import git_sha, versions

logger = logging.getLogger(__name__)

MODEL_NAME = "gamenet"
CURVES = (
    ("train_loss", "training loss (each visit's chosen loss)"),
    ("val_jaccard", "validation Jaccard"),
    ("val_ddi_rate", "validation DDI rate"),
)


def build_model(data: PreparedData, seed: int, train: TrainConfig | None = None) -> GAMENet:
    """A freshly initialised model sized by the vocabularies, with the run's graphs.

    ``train`` supplies the model switches it carries (``graph_norm``, ``gcn_init``).
    """
    torch.manual_seed(seed)
    train = train or TrainConfig()
    config = GAMENetConfig(
        num_diag_codes=max(len(data.vocabs.diag), 1),
        num_proc_codes=max(len(data.vocabs.proc), 1),
        num_meds=len(data.vocabs.med),
        graph_norm=train.graph_norm,
        gcn_init=train.gcn_init,
    )
    return GAMENet(
        config,
        torch.from_numpy(edge_index(data.ehr_adj)),
        torch.from_numpy(edge_index(data.ddi_adj)),
    )


def train(
    data_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    *,
    on_epoch: EpochCallback | None = None,
    ddi_path: Path | None = None,
    device: str = "cpu",
    show_progress: bool = True,
    distributed: bool = False,
) -> dict[str, Any]:
    """Train, select by validation Jaccard, evaluate on test, and write ``out_dir``.

    ``on_epoch(epoch, epochs, val_metrics)`` is called after each epoch's validation (the job
    runner reports progress through it); an exception it raises stops the training.

    With ``distributed`` (under torchrun, see :mod:`training.distributed`) every rank trains on
    its shard of the training patients; rank 0 alone writes ``out_dir`` and calls ``on_epoch``,
    and every rank returns the same metrics.

    Returns:
        The ``metrics.json`` content.

    Raises:
        FileExistsError: if ``out_dir`` already holds a run.
        FileNotFoundError: if the dataset or DDI table is missing.
        ValueError: if ``distributed`` but not started by torchrun, or with ``ddi_loss``
            ``separate``.
    """
    out_dir = Path(out_dir)
    if (out_dir / "run.json").exists():
        raise FileExistsError(f"{out_dir}: already holds a run (run.json)")
    with session(device, distributed=distributed) as dist:
        _check_distributable(config, dist)  # before rank 0 writes anything
        seed_everything(config.seed)
        data = prepare_data(
            Path(data_dir), SplitConfig(method=config.split, seed=config.seed), ddi_path
        )
        model = build_model(data, config.seed, config).to(dist.device)
        if dist.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_run_json(out_dir, data_dir, ddi_path, data, model, config, dist.world_size)
            (out_dir / "vocab.json").write_text(json.dumps(data.vocabs.to_json()) + "\n")
        callbacks = [] if on_epoch is None or not dist.is_main else [report_epoch(on_epoch)]
        result = fit_gamenet(
            model,
            data,
            config,
            run_dir=out_dir if dist.is_main else None,
            dist=dist,
            show_progress=show_progress and dist.is_main,
            callbacks=callbacks,
        )
        if dist.is_main:
            _finish(out_dir, data, config, result.history, dist.device)
        dist.barrier()
    metrics: dict[str, Any] = json.loads((out_dir / "metrics.json").read_text())
    return metrics


def fit_gamenet(
    model: GAMENet,
    data: PreparedData,
    config: TrainConfig,
    *,
    run_dir: Path | None = None,
    dist: Dist | None = None,
    show_progress: bool = True,
    callbacks: Iterable[Callback] = (),
) -> FitResult:
    """Train ``model`` for ``config.epochs`` epochs with :func:`training.fit.fit`.

    Each epoch is logged, then ``callbacks`` run, then ``last.ckpt`` / ``best.ckpt`` (by
    validation Jaccard) are written into ``run_dir`` when given.

    ``dist`` (default: one process on ``model``'s device) spreads the epoch over the ranks: each
    trains a ``DistributedDataParallel`` replica on its shard, the loss and DDI-loss share are
    summed over the ranks, and the validation predictions are gathered, so every rank sees the
    figures of the whole split. Each rank's batch order and DDI-annealing draws come from
    ``seed + rank`` (a single process draws exactly as before).
    """
    dist = dist or Dist(device=str(next(model.parameters()).device))
    _check_distributable(config, dist)
    # fused: one kernel for all parameters instead of a loop over them (same update rule).
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=True)
    replica = dist.wrap(model)
    ddi_adj = torch.from_numpy(data.ddi_adj).to(dist.device)
    rng = np.random.default_rng(dist.seed(config.seed))
    generator = torch.Generator().manual_seed(dist.seed(config.seed))
    val_true = targets_of(data.val, model.config.num_meds)
    temperature, train_seconds, epoch = config.temperature, 0.0, 0

    def train_epoch(bar: Bar[Any]) -> dict[str, float]:
        nonlocal temperature, train_seconds, epoch
        epoch += 1
        for group in optimizer.param_groups:
            group["lr"] = config.epoch_lr(epoch)
        with uneven(replica):
            stats = train_one_epoch(
                replica,
                optimizer,
                dist.shard(data.train, epoch=epoch, seed=config.seed),
                config=config,
                temperature=temperature,
                ddi_adj=ddi_adj,
                rng=rng,
                generator=generator,
                bar=bar,
            )
        loss, ddi_visits, visits = dist.sum(
            [stats.loss * stats.visits, stats.ddi_loss_share * stats.visits, stats.visits]
        )
        temperature *= config.temperature_decay
        train_seconds += stats.seconds
        return {
            "train_loss": loss / max(visits, 1),
            "ddi_loss_share": ddi_visits / max(visits, 1),
            "train_seconds": stats.seconds,
            "train_cpu_seconds": stats.cpu_seconds,
            "cumulative_train_seconds": train_seconds,
        }

    def validate() -> dict[str, float]:
        mine = evaluate(model, dist.part(data.val), batch_size=config.eval_batch_size)
        prob = dist.gather(mine)
        return recommendation_metrics(
            val_true, prob, threshold=config.threshold, ddi_adj=data.ddi_adj
        )

    def payload(end: EpochEnd) -> dict[str, Any]:
        return checkpoint(
            model, optimizer, train_config=config, epoch=end.epoch, best_val_jaccard=end.best
        )

    writers = [] if run_dir is None else [CheckpointWriter(run_dir, payload)]
    return fit(
        train_epoch,
        validate,
        epochs=config.epochs,
        monitor=Monitor("jaccard", "max"),
        modules=[model],
        callbacks=[*([_log_epoch] if dist.is_main else []), *callbacks, *writers],
        show_progress=show_progress,
    )


def _check_distributable(config: TrainConfig, dist: Dist) -> None:
    if dist.is_distributed and config.ddi_loss == "separate":
        # its second step is taken or not by each rank's own draws, and its gradients come from
        # autograd.grad, which DDP's reducer does not see
        raise ValueError("--distributed trains with --ddi-loss mixed or off, not separate")


def _log_epoch(end: EpochEnd) -> None:
    row = end.row
    logger.info(
        "epoch %d/%d loss %.4f (DDI loss on %.1f%% of visits) val jaccard %.4f ddi %.4f (%.1f s)",
        end.epoch,
        end.epochs,
        row["train_loss"],
        100 * row["ddi_loss_share"],
        row["val_jaccard"],
        row["val_ddi_rate"],
        row["train_seconds"],
    )


def _finish(
    out_dir: Path,
    data: PreparedData,
    config: TrainConfig,
    history: list[dict[str, float]],
    device: str,
) -> dict[str, Any]:
    model, ckpt = load_model(out_dir / "best.ckpt", device)
    m = model.config.num_meds
    kw: dict[str, Any] = {"threshold": config.threshold, "ddi_adj": data.ddi_adj}
    boot = {**kw, "rounds": config.bootstrap_rounds, "seed": config.seed}
    test_true, val_true = targets_of(data.test, m), targets_of(data.val, m)
    test_prob = evaluate(model, data.test, batch_size=config.eval_batch_size)
    val_prob = evaluate(model, data.val, batch_size=config.eval_batch_size)
    tuned = tune_threshold(val_true, val_prob)  # the served threshold (manifest.threshold)
    started = time.perf_counter()
    baselines = baseline_table(
        data.split.train,
        data.split.test,
        data.vocabs,
        data.ddi_adj,
        config.threshold,
        seed=config.seed,
    )
    logger.info("baselines fitted in %.1f s", time.perf_counter() - started)
    truth_ids = [np.flatnonzero(row) for y in test_true for row in y]
    metrics: dict[str, Any] = {
        "model": MODEL_NAME,
        "test": bootstrap_metrics(test_true, test_prob, **boot),
        "val": bootstrap_metrics(val_true, val_prob, **boot),
        "test_point": recommendation_metrics(test_true, test_prob, **kw),
        "tuned_threshold": tuned,
        "test_tuned": bootstrap_metrics(test_true, test_prob, **{**boot, "threshold": tuned}),
        "baselines": baselines,
        "best_epoch": int(ckpt["epoch"]),
        "best_val_jaccard": float(ckpt["best_val_jaccard"]),
        "history": history,
        "train_seconds": history[-1]["cumulative_train_seconds"],
        "test_ground_truth_ddi_rate": ddi_rate(truth_ids, data.ddi_adj),
        "train_config": config.to_json(),
        "model_config": asdict(model.config),
        "seed": config.seed,
        "dataset": data.dataset,
        "ddi_source": data.ddi_source(),
        "synthetic": data.synthetic,
        "unknown_codes": data.unknown_codes,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_curves({"GAMENet": history}, CURVES, out_dir / "curves.png")
    write_report(out_dir / "report.md", metrics)
    logger.info(
        "test jaccard %.4f ± %.4f (best epoch %d); wrote %s",
        metrics["test"]["jaccard"]["mean"],
        metrics["test"]["jaccard"]["std"],
        metrics["best_epoch"],
        out_dir,
    )
    return metrics


def _write_run_json(
    out_dir: Path,
    data_dir: Path,
    ddi_path: Path | None,
    data: PreparedData,
    model: GAMENet,
    config: TrainConfig,
    world_size: int,
) -> None:
    run = {
        "model": MODEL_NAME,
        "model_config": asdict(model.config),
        "train_config": config.to_json(),
        "seed": config.seed,
        "world_size": world_size,
        "git_sha": git_sha(),
        "versions": versions(),
        "data_dir": str(data_dir),
        # the --ddi file, read when the dataset has no ddi.csv (the export's report reads it too)
        "ddi_path": None if ddi_path is None else str(ddi_path),
        "dataset": data.dataset,
        "synthetic": data.synthetic,
        "ddi_source": data.ddi_source(),
        "vocab_file": "vocab.json",
        "checkpoint": "best.ckpt",
    }
    (out_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")
