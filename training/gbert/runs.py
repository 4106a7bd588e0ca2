"""G-BERT run directories: ``run.json``, checkpoints and rebuilding the model of a run.

Stages chain through run directories: ``pretrain`` writes a run, ``dha`` and ``finetune`` start
from one (``init``). Every run holds ``run.json`` (model ``"gbert"``, stage, configs, vocabulary,
the ``codes`` its encoder reads, seed, git sha, versions, data fingerprint), ``best.ckpt``,
``last.ckpt``, ``metrics.json``, ``curves.png`` and ``report.md``. Checkpoints hold state dicts
and plain-JSON configs only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast, get_args

import torch
from torch import nn

from models.gbert.config import GBertConfig
from models.gbert.model import CodeGraph, GBertPretrain, GBertRecommender
from training.data.vocab import Vocabularies
from training.gbert.config import Codes
from training.gbert.ontology import (
    Hierarchy,
    diagnosis_hierarchy,
    medication_hierarchy,
    procedure_hierarchy,
)

RUN_FILE = "run.json"


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
    """Return a fresh ``pretrain`` or ``recommend`` model for ``vocabs``.

    With ``config.use_procedures`` the model also gets the procedure graph of ``vocabs``.
    """
    cls = GBertPretrain if kind == "pretrain" else GBertRecommender
    px = code_graph(procedure_hierarchy(vocabs.proc.tokens)) if config.use_procedures else None
    return cls(config, *graphs(vocabs), px)


def run_codes(run: dict[str, Any]) -> Codes:
    """Return the codes a run's encoder reads (``codes`` in ``run.json``; absent: ``diag``)."""
    codes = run.get("codes", "diag")
    if codes not in get_args(Codes):
        raise ValueError(f"run.json: unknown codes {codes!r}")
    return cast(Codes, codes)


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
