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
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.gbert.attention import fusions
from models.gbert.config import GBertConfig
from models.gbert.model import GBertPretrain, GBertRecommender
from training.data.dataset import Dataset
from training.data.records import Patient
from training.data.vocab import Vocabularies
from training.gbert import dha
from training.gbert.batches import EncodedVisit, encode_patient, pad_tokens
from training.gbert.finetune import multi_visit, predict, recommendation_figures, run_finetuning
from training.gbert.loop import FitResult, write_curves
from training.gbert.pretrain import mean_loss, pretrain_loss, run_pretraining, visit_batches
from training.gbert.runs import (
    GBertRunConfig,
    build_model,
    load_checkpoint,
    read_run,
    run_config_json,
    write_run,
)
from training.provenance import git_sha, versions

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed random, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_run(patients: list[Patient], cfg: GBertRunConfig) -> Any:
    """Return the split of ``patients`` a run with ``cfg`` uses (data branch's splitter)."""
    from training.data.splits import SplitConfig, split_patients

    return split_patients(patients, SplitConfig(method=cfg.split, seed=cfg.seed))


def _ddi(cfg: GBertRunConfig, vocabs: Vocabularies) -> tuple[np.ndarray, dict[str, Any] | None]:
    m = len(vocabs.med)
    if cfg.ddi is None:
        logger.warning("no --ddi table: the DDI rate is reported as 0")
        return np.zeros((m, m), dtype=np.float32), None
    from app.contract.ddi_table import read_ddi_csv
    from training.graphs import ddi_adjacency

    table = read_ddi_csv(Path(cfg.ddi))
    source = {"name": table.name, "fingerprint": table.fingerprint, "pairs": len(table.pairs)}
    return ddi_adjacency(table, vocabs.med), source


def train_gbert(cfg: GBertRunConfig) -> dict[str, Any]:
    """Run one stage and return its ``metrics.json`` content."""
    seed_everything(cfg.seed)
    dataset = Dataset(Path(cfg.data))
    patients = dataset.load()
    split = split_run(patients, cfg)
    init = read_run(Path(cfg.init)) if cfg.init else None
    if cfg.stage != "pretrain" and init is None:
        raise ValueError(f"stage {cfg.stage} needs --init RUN_DIR")
    if init is not None and init["data"]["fingerprint"] != dataset.manifest.fingerprint:
        raise ValueError(f"{cfg.init}: was trained on another dataset (fingerprint differs)")
    vocabs = Vocabularies.from_json(init["vocab"]) if init else Vocabularies.fit(split.train)
    enc = {
        name: [encode_patient(p, vocabs) for p in getattr(split, name)]
        for name in ("train", "val", "test")
    }
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    stages = {"pretrain": _pretrain, "dha": _dha, "finetune": _finetune}
    config, result, metrics = stages[cfg.stage](cfg, vocabs, enc, init, run_dir)
    if cfg.stage == "finetune":
        metrics["baselines"] = baselines(split, vocabs, cfg)
    run = {
        "model": "gbert",
        "stage": cfg.stage,
        "run_config": run_config_json(cfg),
        "model_config": config.to_json(),
        "vocab": vocabs.to_json(),
        "seed": cfg.seed,
        "data": {
            "path": str(cfg.data),
            "fingerprint": dataset.manifest.fingerprint,
            "source_format": dataset.manifest.source_format,
            "patients": dataset.manifest.patients,
            "visits": dataset.manifest.visits,
            "synthetic": dataset.manifest.is_synthetic,
        },
        "split": split.describe(),
        "init": init["run_config"]["out"] if init else None,
        "lineage": [*(init.get("lineage", []) if init else []), cfg.stage],
        "git_sha": git_sha(),
        "versions": versions(),
    }
    write_run(run_dir, run)
    metrics = {**metrics, "history": result.history, "best_epoch": result.best_epoch}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_curves(result.history, run_dir / "curves.png")
    (run_dir / "report.md").write_text(_report(run, metrics))
    return metrics


def baselines(split: Any, vocabs: Vocabularies, cfg: GBertRunConfig) -> dict[str, Any]:
    """Bootstrap metrics of the ``training.baselines`` on the visits G-BERT predicts.

    The baselines score every visit; G-BERT predicts visits 2..V of multi-visit test patients,
    so each baseline's first row is dropped to compare on the same visits.
    """
    from training.baselines import (
        frequency_baseline,
        logistic_baseline,
        med_targets,
        nearest_baseline,
    )
    from training.metrics import bootstrap_metrics

    ddi_adj, _ = _ddi(cfg, vocabs)
    test = [p for p in split.test if len(p.visits) >= 2]
    y_true = [t[1:] for t in med_targets(test, vocabs.med)]
    scores = {
        "frequency": frequency_baseline(split.train, test, vocabs, threshold=cfg.threshold),
        "nearest": nearest_baseline(split.train, test, vocabs, threshold=cfg.threshold),
        "logistic_regression": logistic_baseline(split.train, test, vocabs, seed=cfg.seed),
    }
    return {
        name: bootstrap_metrics(
            y_true, [p[1:] for p in prob], threshold=cfg.threshold, ddi_adj=ddi_adj, seed=cfg.seed
        )
        for name, prob in scores.items()
    }


def _visits(patients: list[list[EncodedVisit]]) -> list[EncodedVisit]:
    return [v for p in patients for v in p]


def pretraining_visits(enc: dict[str, Any]) -> list[EncodedVisit]:
    """Every train visit plus the visits of single-visit patients of val and test.

    As G-BERT: single-visit patients are never predicted (fine-tuning and evaluation need two
    visits), so their visits add pre-training data without touching what is evaluated.
    """
    singles = [p for name in ("val", "test") for p in enc[name] if len(p) == 1]
    return _visits(enc["train"]) + _visits(singles)


def validation_visits(enc: dict[str, Any]) -> list[EncodedVisit]:
    """Visits of multi-visit validation patients (single-visit ones are pre-training data)."""
    return _visits([p for p in enc["val"] if len(p) >= 2])


def _extra(cfg: GBertRunConfig, config: GBertConfig) -> dict[str, Any]:
    return {"config": config.to_json(), "run_config": run_config_json(cfg)}


def _pretrain(
    cfg: GBertRunConfig, vocabs: Vocabularies, enc: dict[str, Any], _init: Any, run_dir: Path
) -> tuple[GBertConfig, FitResult, dict[str, Any]]:
    config = GBertConfig(
        len(vocabs.diag),
        len(vocabs.med),
        hidden=cfg.hidden,
        layers=cfg.layers,
        heads=cfg.heads,
        head_dim=cfg.head_dim,
        intermediate=cfg.intermediate,
    )
    model = build_model("pretrain", config, vocabs)
    assert isinstance(model, GBertPretrain)
    result = run_pretraining(
        model,
        pretraining_visits(enc),
        validation_visits(enc),
        **_train_kwargs(cfg),
        run_dir=run_dir,
        extra=_extra(cfg, config),
    )
    singles = sum(len(p) == 1 for name in ("train", "val", "test") for p in enc[name])
    return (
        config,
        result,
        {
            "best_val_loss": result.best,
            "pretraining_visits": len(pretraining_visits(enc)),
            "single_visit_patients": singles,
        },
    )


def _train_kwargs(cfg: GBertRunConfig) -> dict[str, Any]:
    return {
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "mask_prob": cfg.mask_prob,
        "seed": cfg.seed,
    }


def _load_pretrain(init_dir: Path, vocabs: Vocabularies) -> GBertPretrain:
    ckpt = load_checkpoint(init_dir / "best.ckpt")
    model = build_model("pretrain", GBertConfig.from_json(ckpt["config"]), vocabs)
    model.load_state_dict(ckpt["model"])
    assert isinstance(model, GBertPretrain)
    return model


def _dha(
    cfg: GBertRunConfig, vocabs: Vocabularies, enc: dict[str, Any], init: Any, run_dir: Path
) -> tuple[GBertConfig, FitResult, dict[str, Any]]:
    model = _load_pretrain(Path(cfg.init or ""), vocabs)
    encoder, heads, layers = model.encoder, model.encoder.config.heads, model.encoder.config.layers
    train, val = pretraining_visits(enc), validation_visits(enc)
    sizes = {"num_diag": len(vocabs.diag), "num_meds": len(vocabs.med)}
    val_batches = visit_batches(
        val,
        batch_size=cfg.batch_size,
        mask_prob=cfg.mask_prob,
        seed=cfg.seed,
        shuffle=False,
        **sizes,
    )
    model.eval()
    with torch.no_grad():
        loss_mha = mean_loss(model, val_batches)
    info: dict[str, Any] = {
        "val_loss_mha": loss_mha,
        "method": cfg.dha_method,
        "kv_budget": cfg.kv_budget,
    }
    if cfg.dha_method == "gqa":
        groups = round(cfg.kv_budget * heads)
        plan = [(dha.contiguous_groups(heads, groups),) * 2 for _ in range(layers)]
        config = dha.mean_pool(encoder, plan)
    else:
        calib = train[: cfg.calibration_visits]
        token_batches = [
            (pad_tokens([v.dx for v in calib]), 0),
            (pad_tokens([v.rx for v in calib]), 1),
        ]
        choices = dha.search(encoder, dha.calibration_inputs(encoder, token_batches), cfg.kv_budget)
        info["search"] = [c.__dict__ for c in choices]
        dha.start_fusion(encoder, dha.plan_by_layer(choices, layers))
        lagrangian = dha.AugmentedLagrangian(cfg.fusion_eta)
        omegas = [f.omega for a in encoder.attention_layers() for f in fusions(a)]

        def fused_loss(m: GBertPretrain, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return pretrain_loss(m, batch) + lagrangian.penalty(dha.fusion_loss(m.encoder))

        fusion_dir = run_dir / "fusion"
        fusion_dir.mkdir(exist_ok=True)
        fused = run_pretraining(
            model,
            train,
            val,
            **{**_train_kwargs(cfg), "epochs": cfg.fusion_epochs},
            run_dir=fusion_dir,
            extra={"run_config": run_config_json(cfg)},
            step_loss=fused_loss,
            after_step=lagrangian.ascend,
            lr_by_param=dict.fromkeys(omegas, cfg.fusion_lr),
        )
        model.eval()
        with torch.no_grad():
            info["fusion_loss_final"] = float(dha.fusion_loss(encoder).detach())
            info["val_loss_fused"] = mean_loss(model, val_batches)
        info["lambdas"] = [lagrangian.lam1, lagrangian.lam2]
        info["fusion_history"] = fused.history
        config = dha.finish(encoder)
    model.eval()
    with torch.no_grad():
        info["val_loss_collapsed"] = mean_loss(model, val_batches)
    info["kv_heads"] = sum(a.key_heads + a.value_heads for a in encoder.attention_layers())
    info["kv_heads_mha"] = 2 * heads * layers
    result = run_pretraining(
        model, train, val, **_train_kwargs(cfg), run_dir=run_dir, extra=_extra(cfg, config)
    )
    return config, result, {**info, "best_val_loss": result.best}


def _finetune(
    cfg: GBertRunConfig, vocabs: Vocabularies, enc: dict[str, Any], init: Any, run_dir: Path
) -> tuple[GBertConfig, FitResult, dict[str, Any]]:
    ckpt = load_checkpoint(Path(cfg.init or "") / "best.ckpt")
    base = replace(GBertConfig.from_json(ckpt["config"]), adapter=None)
    model = build_model("recommend", base, vocabs)
    assert isinstance(model, GBertRecommender)
    encoder_state = {
        k[len("encoder.") :]: v for k, v in ckpt["model"].items() if k.startswith("encoder.")
    }
    model.encoder.load_state_dict(encoder_state)
    adapter = cfg.adapter_config()
    if adapter is not None:
        model.encoder.add_adapters(adapter)
    config = model.encoder.config
    ddi_adj, ddi_source = _ddi(cfg, vocabs)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = run_finetuning(
        model,
        enc["train"],
        enc["val"],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        threshold=cfg.threshold,
        ddi_adj=ddi_adj,
        run_dir=run_dir,
        extra=_extra(cfg, config),
    )
    model.load_state_dict(load_checkpoint(run_dir / "best.ckpt")["model"])
    test = multi_visit(enc["test"])
    y_true, y_prob = predict(model, test, batch_size=cfg.batch_size, num_meds=len(vocabs.med))
    figures = recommendation_figures(y_true, y_prob, threshold=cfg.threshold, ddi_adj=ddi_adj)
    from training.metrics import bootstrap_metrics

    boot = bootstrap_metrics(
        y_true, y_prob, threshold=cfg.threshold, ddi_adj=ddi_adj, seed=cfg.seed
    )
    return (
        config,
        result,
        {
            "test": figures,
            "test_bootstrap": boot,
            "ddi_source": ddi_source,
            "trainable_params": trainable,
            "test_patients": len(test),
            "threshold": cfg.threshold,
        },
    )


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
