"""``medrec train gbert``: the three stages, chained through run directories.

Examples (each command is one line)::

    medrec train gbert --data var/synthetic --out var/runs/gbert-pre --stage pretrain
    medrec train gbert --data var/synthetic --out var/runs/gbert-dha50 --stage dha
        --init var/runs/gbert-pre --kv-budget 0.5
    medrec train gbert --data var/synthetic --out var/runs/gbert-mor --stage finetune
        --init var/runs/gbert-dha50 --adapter mor
    medrec export var/runs/gbert-mor --out var/artifacts/gbert
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from app.contract.jobs import EpochCallback
from training.baselines import frequency_baseline, logistic_baseline, med_targets, nearest_baseline
from training.curves import plot_curves
from training.data.dataset import Dataset
from training.data.splits import Split
from training.data.vocab import Vocabularies
from training.distributed import Dist, session
from training.fit import report_epoch, seed_everything
from training.gbert.config import Codes, TrainConfig
from training.gbert.data import ddi_graph, encode_split, split_run
from training.gbert.runs import read_run, run_codes, write_run
from training.gbert.stages import STAGES, StageInputs
from training.metrics import bootstrap_metrics
from training.provenance import git_sha, versions

logger = logging.getLogger(__name__)


def train(
    data_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    *,
    on_epoch: EpochCallback | None = None,
    init_dir: Path | None = None,
    ddi_path: Path | None = None,
    show_progress: bool = True,
    distributed: bool = False,
) -> dict[str, Any]:
    """Run one stage and write ``out_dir``; return its ``metrics.json`` content.

    Args:
        data_dir: the dataset directory.
        out_dir: the run directory to write.
        config: the stage's options.
        on_epoch: ``on_epoch(epoch, epochs, val_metrics)`` after each epoch's validation.
        init_dir: the run this stage starts from (required for ``dha`` and ``finetune``).
        ddi_path: DDI table CSV for the DDI rate when the dataset has no ``ddi.csv`` of its own
            (which wins, as for GAMENet); with neither the DDI rate is reported as 0.
        show_progress: a tqdm bar per epoch on a terminal.
        distributed: train data-parallel under torchrun (:mod:`training.distributed`); rank 0
            alone writes ``out_dir``, and every rank returns its metrics.

    Raises:
        ValueError: if the stage needs ``init_dir`` and has none, or it was trained on another
            dataset, or ``distributed`` outside torchrun.
    """
    with session("cpu", distributed=distributed) as dist:
        main_only = on_epoch if dist.is_main else None
        shown = show_progress and dist.is_main
        _train(data_dir, out_dir, config, dist, main_only, init_dir, ddi_path, shown)
        dist.barrier()
    metrics: dict[str, Any] = json.loads((Path(out_dir) / "metrics.json").read_text())
    return metrics


def _train(
    data_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    dist: Dist,
    on_epoch: EpochCallback | None,
    init_dir: Path | None,
    ddi_path: Path | None,
    show_progress: bool,
) -> None:
    seed_everything(config.seed)
    dataset = Dataset(Path(data_dir))
    split = split_run(dataset.load(), config)
    init = read_run(Path(init_dir)) if init_dir else None
    if config.stage != "pretrain" and init is None:
        raise ValueError(f"stage {config.stage} needs --init RUN_DIR")
    if init is not None and init["data"]["fingerprint"] != dataset.manifest.fingerprint:
        raise ValueError(f"{init_dir}: was trained on another dataset (fingerprint differs)")
    vocabs = Vocabularies.from_json(init["vocab"]) if init else Vocabularies.fit(split.train)
    codes = run_codes(init) if init else _pretrain_codes(config.codes, vocabs)
    run_dir = Path(out_dir)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    inputs = StageInputs(
        config=config,
        vocabs=vocabs,
        enc=encode_split(split, vocabs, codes == "diag+proc"),
        data_dir=Path(data_dir),
        init_dir=None if init_dir is None else Path(init_dir),
        ddi_path=ddi_path,
        run_dir=run_dir,
        callbacks=() if on_epoch is None else (report_epoch(on_epoch),),
        show_progress=show_progress,
        dist=dist,
        use_procedures=codes == "diag+proc",
    )
    model_config, result, metrics = STAGES[config.stage](inputs)
    if not dist.is_main:
        return
    if config.stage == "finetune":
        metrics["baselines"] = baselines(Path(data_dir), split, vocabs, config, ddi_path)
    manifest = dataset.manifest
    run = {
        "model": "gbert",
        "stage": config.stage,
        "run_config": config.record(),
        "codes": codes,
        "model_config": model_config.to_json(),
        "vocab": vocabs.to_json(),
        "seed": config.seed,
        "world_size": dist.world_size,
        "data": {
            "path": str(data_dir),
            "fingerprint": manifest.fingerprint,
            "source_format": manifest.source_format,
            "patients": manifest.patients,
            "visits": manifest.visits,
            "synthetic": manifest.is_synthetic,
        },
        "split": split.describe(),
        "init": None if init_dir is None else str(init_dir),
        "ddi": None if ddi_path is None else str(ddi_path),
        "lineage": [*(init.get("lineage", []) if init else []), config.stage],
        "git_sha": git_sha(),
        "versions": versions(),
    }
    write_run(run_dir, run)
    metrics = {**metrics, "history": result.history, "best_epoch": result.best_epoch}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    keys = [k for k in result.history[0] if k != "epoch"]
    plot_curves({"G-BERT": result.history}, [(k, k) for k in keys], run_dir / "curves.png")
    (run_dir / "report.md").write_text(_report(run, metrics))


def _pretrain_codes(codes: Codes, vocabs: Vocabularies) -> Codes:
    """The codes a pre-training reads: ``codes``, or ``diag`` when there are no procedures."""
    if codes == "diag+proc" and not len(vocabs.proc):
        logger.warning("no procedure codes in the training split: pre-training on diagnoses")
        return "diag"
    return codes


def baselines(
    data_dir: Path, split: Split, vocabs: Vocabularies, cfg: TrainConfig, ddi_path: Path | None
) -> dict[str, Any]:
    """Bootstrap metrics of the ``training.baselines`` on every test visit, as G-BERT's."""
    ddi_adj, _ = ddi_graph(data_dir, ddi_path, vocabs)
    test = split.test
    y_true = med_targets(test, vocabs.med)
    scores = {
        "frequency": frequency_baseline(split.train, test, vocabs, threshold=cfg.threshold),
        "nearest": nearest_baseline(split.train, test, vocabs, threshold=cfg.threshold),
        "logistic_regression": logistic_baseline(split.train, test, vocabs, seed=cfg.seed),
    }
    return {
        name: bootstrap_metrics(
            y_true, prob, threshold=cfg.threshold, ddi_adj=ddi_adj, seed=cfg.seed
        )
        for name, prob in scores.items()
    }


def _report(run: dict[str, Any], metrics: dict[str, Any]) -> str:
    lines = [
        f"# G-BERT {run['stage']} run",
        "",
        f"- lineage: {' → '.join(run['lineage'])}",
        f"- data: {run['data']['source_format']} ({run['data']['fingerprint'][:12]}), "
        f"{run['data']['patients']} patients",
        f"- seed: {run['seed']}, git {run['git_sha'][:10]}",
        "",
        "## Figures",
        "",
    ]
    for key, value in metrics.items():
        if key not in ("history", "search", "fusion_history", "test_bootstrap"):
            lines.append(f"- {key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"
