"""A GENN training run: MLP, GNN and GENN on one split, written to a run directory.

``RUN_DIR`` holds ``run.json`` (model ``"genn"``, configs, seed, git SHA, versions, data
fingerprint, vocabularies), ``best.ckpt`` and ``last.ckpt`` (state dicts, plain-JSON configs and
the encoder graph that export needs; loadable with ``torch.load(weights_only=True)``),
``metrics.json``, ``report.md`` and ``curves.png``.

Serving: node features are the 32-d seeded random projection of one-hot ATC3 ids (the drug
vocabulary order is ``run.json["vocab"]["drug"]``); the encoder graph at export is every known
interacting pair of the table with its type vector.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.contract.errors import InputFileError
from models.genn import GENNConfig, GENNEnergy, GENNInference, PairMLP
from training.genn.graph import GraphSplit, table_split
from training.genn.loop import (
    GraphTensors,
    History,
    TrainConfig,
    encoder_graph,
    evaluate,
    predict,
    pretrain_gnn,
    train_genn,
    train_mlp,
)
from training.genn.metrics import bootstrap_type_metrics
from training.genn.pairs import TypedPairs, read_pairs
from training.genn.report import write_curves, write_report
from training.provenance import git_sha, versions

logger = logging.getLogger(__name__)
MODELS = ("genn", "gnn", "mlp")
MIN_PAIRS = 20  # below this the 10% val/test parts hold one or two pairs


@dataclass(frozen=True)
class RunConfig:
    """A ``medrec train genn`` run.

    Args:
        seed: seeds the split, the node features and initialisation.
        negative_ratio: sampled non-interacting pairs per known pair (label all zero).
        hidden: hidden size D of every network.
        feature_dim: size of the random-projection node features.
        synthetic: the table is generated demo data (marks the manifest).
        train: optimisation settings.
    """

    seed: int = 0
    negative_ratio: float = 1.0
    hidden: int = 100
    feature_dim: int = 32
    synthetic: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class TrainResult:
    """The three trained models, their histories and metrics (``model -> part -> key``)."""

    genn: GENNInference
    energy: GENNEnergy
    mlp: PairMLP
    histories: dict[str, History]
    metrics: dict[str, dict[str, dict[str, float]]]
    test_probs: dict[str, np.ndarray]


def train_models(split: GraphSplit, model_config: GENNConfig, config: TrainConfig) -> TrainResult:
    """Train MLP, GNN (pre-training) and GENN on ``split``; evaluate each on val and test."""
    g = GraphTensors.from_split(split).to(config.device)
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    probs: dict[str, np.ndarray] = {}
    mlp, h_mlp = train_mlp(g, model_config, config)
    metrics["mlp"] = {p: evaluate(mlp, g, p) for p in ("val", "test")}
    probs["mlp"] = predict(mlp, g, "test")
    model, h_gnn = pretrain_gnn(g, model_config, config)
    metrics["gnn"] = {p: evaluate(model, g, p, decoder="phi") for p in ("val", "test")}
    probs["gnn"] = predict(model, g, "test", decoder="phi")
    energy, h_genn = train_genn(model, g, model_config, config)
    metrics["genn"] = {p: evaluate(model, g, p) for p in ("val", "test")}
    probs["genn"] = predict(model, g, "test")
    for name in MODELS:
        logger.info("%s test: %s", name, metrics[name]["test"])
    histories = {"mlp": h_mlp, "gnn": h_gnn, "genn": h_genn}
    return TrainResult(model, energy, mlp, histories, metrics, probs)


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.cpu() for k, v in state.items()}


def _checkpoint(
    result: TrainResult,
    pairs: TypedPairs,
    split: GraphSplit,
    model_config: GENNConfig,
    config: RunConfig,
    *,
    last: bool,
) -> dict[str, Any]:
    index, attr = encoder_graph(pairs.pairs, pairs.labels)
    if last:
        model_state, energy_state = result.histories["genn"].last_state
    else:
        model_state, energy_state = result.genn.state_dict(), result.energy.state_dict()
    return {
        "model": _cpu(model_state),
        "energy": _cpu(energy_state),
        "model_config": dataclasses.asdict(model_config),
        "run_config": dataclasses.asdict(config),
        "best_val_roc_auc": result.metrics["genn"]["val"]["roc_auc"],
        "x": torch.from_numpy(split.x),
        "export_edge_index": index,
        "export_edge_attr": attr,
    }


def train_table_run(ddi_path: Path, out_dir: Path, config: RunConfig) -> dict[str, Any]:
    """Train on a typed DDI table and write ``out_dir``; return ``metrics.json``'s content.

    Raises:
        InputFileError: the table is malformed or has fewer than ``MIN_PAIRS`` pairs.
        FileExistsError: ``out_dir`` exists and is not empty.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: run directory exists and is not empty")
    sha = git_sha()  # at start: the code that runs
    torch.manual_seed(config.seed)
    pairs = read_pairs(Path(ddi_path))
    if len(pairs.pairs) < MIN_PAIRS:
        raise InputFileError(ddi_path, f"need at least {MIN_PAIRS} known pairs to train GENN")
    split = table_split(pairs, seed=config.seed, negative_ratio=config.negative_ratio)
    model_config = GENNConfig(
        num_features=split.x.shape[1], num_types=len(pairs.types), hidden=config.hidden
    )
    if config.feature_dim != split.x.shape[1]:
        raise ValueError(f"RunConfig: feature_dim {config.feature_dim} is not supported yet")
    train_config = dataclasses.replace(config.train, seed=config.seed)
    result = train_models(split, model_config, train_config)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, last in (("best.ckpt", False), ("last.ckpt", True)):
        torch.save(
            _checkpoint(result, pairs, split, model_config, config, last=last), out_dir / name
        )
    test_labels = split.test_labels
    metrics = {
        **{name: result.metrics[name] for name in MODELS},
        "bootstrap_test": {
            name: bootstrap_type_metrics(test_labels, result.test_probs[name], seed=config.seed)
            for name in MODELS
        },
        "history": {k: h.to_json() for k, h in result.histories.items()},
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
