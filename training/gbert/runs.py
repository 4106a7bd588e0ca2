"""G-BERT run directories: the run config, provenance, checkpoints and model rebuilding.

Stages chain through run directories: ``pretrain`` writes a run, ``dha`` and ``finetune`` start
from one (``init``). Every run holds ``run.json`` (model ``"gbert"``, stage, configs, vocabulary,
seed, git sha, versions, data fingerprint), ``best.ckpt``, ``last.ckpt``, ``metrics.json``,
``curves.png`` and ``report.md``. Checkpoints hold state dicts and plain-JSON configs only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from models.gbert.config import AdapterConfig, GBertConfig
from models.gbert.model import CodeGraph, GBertPretrain, GBertRecommender
from training.data.vocab import Vocabularies
from training.gbert.ontology import Hierarchy, diagnosis_hierarchy, medication_hierarchy

Stage = Literal["pretrain", "dha", "finetune"]
RUN_FILE = "run.json"


@dataclass(frozen=True)
class GBertRunConfig:
    """Options of one ``medrec train gbert`` stage.

    Args:
        data: dataset directory.
        out: run directory to write.
        stage: ``pretrain``, ``dha`` (search → fusion → collapse → continued pre-training) or
            ``finetune`` (recommendation head, optionally adapters only).
        init: run directory this stage starts from (required for ``dha`` and ``finetune``).
        epochs: training epochs of the stage (for ``dha``: continued pre-training epochs).
        batch_size: visits per batch (pre-training) or patients per batch (fine-tuning).
        lr: Adam learning rate (G-BERT: 5e-4).
        seed: the one seed of the run.
        mask_prob: masked-code probability.
        hidden, layers, heads, head_dim, intermediate: encoder sizes (``pretrain`` only).
        kv_budget: DHA: kept KV heads as a fraction of 2·H·L.
        dha_method: ``dha`` (searched groups + fusion) or ``gqa`` (contiguous groups,
            mean-pooled, no fusion): the GQA ablation.
        fusion_epochs: DHA: epochs of heads fusion before collapse.
        fusion_lr: DHA: Adam learning rate of the fusion weights ω (they must travel from the
            identity to their group means, ~0.5, within the fusion epochs).
        fusion_eta: DHA: gradient-ascent step of the Lagrange multipliers.
        adapter: ``none`` (full fine-tuning), ``lora`` or ``mor``.
        rank, experts, alpha, routing: adapter options.
        threshold: decision threshold for the metrics (G-BERT: 0.3).
        ddi: DDI table CSV for the DDI rate; ``None`` reports a DDI rate of 0 with a warning.
        split: ``random`` or ``literature``.
        calibration_visits: DHA search: visits of calibration activations.
    """

    data: str
    out: str
    stage: Stage = "pretrain"
    init: str | None = None
    epochs: int = 5
    batch_size: int = 64
    lr: float = 5e-4
    seed: int = 0
    mask_prob: float = 0.15
    hidden: int = 300
    layers: int = 2
    heads: int = 4
    head_dim: int = 75
    intermediate: int = 300
    kv_budget: float = 0.5
    dha_method: Literal["dha", "gqa"] = "dha"
    fusion_epochs: int = 3
    fusion_lr: float = 2e-2
    fusion_eta: float = 0.1
    adapter: Literal["none", "lora", "mor"] = "none"
    rank: int = 8
    experts: int = 4
    alpha: float = 16.0
    routing: Literal["token", "visit", "constant"] = "token"
    threshold: float = 0.3
    ddi: str | None = None
    split: Literal["literature", "random"] = "random"
    calibration_visits: int = 256

    def adapter_config(self) -> AdapterConfig | None:
        """Return the adapter of a fine-tuning run, or ``None`` for full fine-tuning."""
        if self.adapter == "none":
            return None
        return AdapterConfig(self.adapter, self.rank, self.experts, self.alpha, self.routing)


def code_graph(h: Hierarchy) -> CodeGraph:
    """Convert an ontology :class:`Hierarchy` to the model's tensors."""
    return CodeGraph(
        num_nodes=len(h.nodes),
        leaf_index=torch.from_numpy(h.leaf_index),
        up_edges=torch.from_numpy(h.up_edges),
        down_edges=torch.from_numpy(h.down_edges),
    )


def graphs(vocabs: Vocabularies) -> tuple[CodeGraph, CodeGraph]:
    """Return the diagnosis and medication graphs of ``vocabs``."""
    dx = code_graph(diagnosis_hierarchy(vocabs.diag.tokens))
    rx = code_graph(medication_hierarchy(vocabs.med.tokens))
    return dx, rx


def build_model(kind: str, config: GBertConfig, vocabs: Vocabularies) -> nn.Module:
    """Return a fresh ``pretrain`` or ``recommend`` model for ``vocabs``."""
    cls = GBertPretrain if kind == "pretrain" else GBertRecommender
    return cls(config, *graphs(vocabs))


def write_run(run_dir: Path, obj: dict[str, Any]) -> None:
    """Write ``run.json`` into ``run_dir`` (created if needed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_FILE).write_text(json.dumps(obj, indent=2) + "\n")


def read_run(run_dir: Path) -> dict[str, Any]:
    """Return ``run.json`` of a G-BERT run.

    Raises:
        FileNotFoundError: if ``run_dir`` has no ``run.json``.
        ValueError: if the run is not a G-BERT run.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    obj: dict[str, Any] = json.loads(path.read_text())
    if obj.get("model") != "gbert":
        raise ValueError(f"{path}: not a G-BERT run (model {obj.get('model')!r})")
    return obj


def run_config_json(cfg: GBertRunConfig) -> dict[str, Any]:
    """Return the plain-JSON form of a run config."""
    return asdict(cfg)


def save_checkpoint(path: Path, model: nn.Module, extra: dict[str, Any]) -> None:
    """Save the model state dict with plain-JSON ``extra`` (configs, step, best metric)."""
    torch.save({"model": model.state_dict(), **extra}, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``)."""
    obj: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return obj


def load_model(run_dir: Path, which: str = "best") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a run from its checkpoint and ``run.json``; returns it in eval mode."""
    run = read_run(run_dir)
    ckpt = load_checkpoint(Path(run_dir) / f"{which}.ckpt")
    config = GBertConfig.from_json(ckpt["config"])
    vocabs = Vocabularies.from_json(run["vocab"])
    model = build_model("recommend" if run["stage"] == "finetune" else "pretrain", config, vocabs)
    model.load_state_dict(ckpt["model"])
    return model.eval(), run
