"""A GENN training run: MLP, GNN and GENN on one split, written to a run directory.

``RUN_DIR`` holds ``run.json`` (model ``"genn"``, configs, seed, git SHA, versions, data
fingerprint, vocabularies), ``best.ckpt`` and ``last.ckpt`` (state dicts, plain-JSON configs and
the encoder graph that export needs; loadable with ``torch.load(weights_only=True)``),
``metrics.json``, ``report.md`` and ``curves.png``.

Serving: a DDI table has no drug features, so node features are the 32-d seeded random
projection of one-hot ATC3 ids (drug order ``run.json["vocab"]["drug"]``; recorded as
``run.json["split"]["node_features"]`` and in the manifest); the encoder graph at export is
every known interacting pair of the table with its type vector.

Example::

    medrec train genn --ddi var/ddi.csv --out runs/genn
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.contract.jobs import EpochCallback
from models.genn import GENNConfig, GENNEnergy, GENNInference, PairMLP
from training.fit import Callback, FitResult, report_epoch, seed_everything
from training.genn.config import OptimConfig, TrainConfig
from training.genn.data import GraphTensors, encoder_graph, prepare_table
from training.genn.graph import GraphSplit
from training.genn.metrics import bootstrap_type_metrics
from training.genn.report import write_curves, write_report
from training.genn.steps import (
    evaluate,
    history_json,
    predict,
    pretrain_gnn,
    train_genn,
    train_mlp,
)
from training.provenance import git_sha, versions

logger = logging.getLogger(__name__)
MODELS = ("genn", "gnn", "mlp")


@dataclass
class TrainResult:
    """The three trained models, their histories and metrics (``model -> part -> key``)."""

    genn: GENNInference
    energy: GENNEnergy
    mlp: PairMLP
    histories: dict[str, FitResult]
    metrics: dict[str, dict[str, dict[str, float]]]
    test_probs: dict[str, np.ndarray]


def train_models(
    split: GraphSplit,
    model_config: GENNConfig,
    config: OptimConfig,
    *,
    run_dir: Path | None = None,
    extra: dict[str, Any] | None = None,
    callbacks: Sequence[Callback] = (),
    show_progress: bool = True,
) -> TrainResult:
    """Train MLP, GNN (pre-training) and GENN on ``split``; evaluate each on val and test.

    ``callbacks`` see every phase's epochs; with ``run_dir`` the GENN phase writes its
    checkpoints there, with ``extra`` in them.
    """
    g = GraphTensors.from_split(split).to(config.device)
    kw: dict[str, Any] = {"callbacks": callbacks, "show_progress": show_progress}
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    probs: dict[str, np.ndarray] = {}
    mlp, h_mlp = train_mlp(g, model_config, config, **kw)
    metrics["mlp"] = {p: evaluate(mlp, g, p) for p in ("val", "test")}
    probs["mlp"] = predict(mlp, g, "test")
    model, h_gnn = pretrain_gnn(g, model_config, config, **kw)
    metrics["gnn"] = {p: evaluate(model, g, p, decoder="phi") for p in ("val", "test")}
    probs["gnn"] = predict(model, g, "test", decoder="phi")
    energy, h_genn = train_genn(model, g, model_config, config, run_dir=run_dir, extra=extra, **kw)
    metrics["genn"] = {p: evaluate(model, g, p) for p in ("val", "test")}
    probs["genn"] = predict(model, g, "test")
    for name in MODELS:
        logger.info("%s test: %s", name, metrics[name]["test"])
    histories = {"mlp": h_mlp, "gnn": h_gnn, "genn": h_genn}
    return TrainResult(model, energy, mlp, histories, metrics, probs)


def train(
    ddi_path: Path,
    out_dir: Path,
    config: TrainConfig,
    *,
    on_epoch: EpochCallback | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Train on a typed DDI table and write ``out_dir``; return ``metrics.json``'s content.

    Args:
        ddi_path: the typed DDI table (CSV); GENN's data is the table, not a patient dataset.
        out_dir: the run directory to create.
        config: the run's options.
        on_epoch: ``on_epoch(epoch, epochs, val_metrics)`` after each epoch of each phase
            (MLP, GNN, GENN in turn).
        show_progress: a tqdm bar per epoch on a terminal.

    Raises:
        InputFileError: the table is malformed or has fewer than ``MIN_PAIRS`` pairs.
        FileExistsError: ``out_dir`` exists and is not empty.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: run directory exists and is not empty")
    sha = git_sha()  # at start: the code that runs
    seed_everything(config.seed)
    pairs, split = prepare_table(ddi_path, config)
    model_config = GENNConfig(
        num_features=split.x.shape[1], num_types=len(pairs.types), hidden=config.hidden
    )
    index, attr = encoder_graph(pairs.pairs, pairs.labels)
    extra = {
        "model_config": dataclasses.asdict(model_config),
        "run_config": dataclasses.asdict(config),
        "x": torch.from_numpy(split.x),
        "export_edge_index": index,
        "export_edge_attr": attr,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    result = train_models(
        split,
        model_config,
        dataclasses.replace(config.train, seed=config.seed),
        run_dir=out_dir,
        extra=extra,
        callbacks=() if on_epoch is None else (report_epoch(on_epoch),),
        show_progress=show_progress,
    )
    metrics = {
        **{name: result.metrics[name] for name in MODELS},
        "bootstrap_test": {
            name: bootstrap_type_metrics(
                split.test_labels, result.test_probs[name], seed=config.seed
            )
            for name in MODELS
        },
        "history": {k: history_json(h) for k, h in result.histories.items()},
    }
    run = {
        "model": "genn",
        "model_config": dataclasses.asdict(model_config),
        "run_config": dataclasses.asdict(config),
        "seed": config.seed,
        "git_sha": sha,
        "versions": versions(),
        "data": {**pairs.describe(), "path": str(ddi_path), "source_format": "ddi-table"},
        "split": split.describe(),
        "vocab": {"drug": list(pairs.drugs), "types": list(pairs.types)},
    }
    (out_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_curves(result.histories, out_dir / "curves.png")
    write_report(run, metrics, out_dir / "report.md")
    logger.info("wrote run %s", out_dir)
    return metrics
