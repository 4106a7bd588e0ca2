"""The three G-BERT stages: pre-training, the DHA conversion and fine-tuning.

Each stage takes :class:`StageInputs` and returns the model config it trained, the fit result
and its own figures for ``metrics.json``; :func:`training.gbert.run.train` writes the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from models.gbert.attention import fusions
from models.gbert.config import GBertConfig
from models.gbert.model import GBertPretrain, GBertRecommender
from training.data.vocab import Vocabularies
from training.distributed import Dist
from training.fit import Callback, FitResult
from training.gbert import dha
from training.gbert.batches import diag_side, pad_tokens
from training.gbert.config import TrainConfig
from training.gbert.data import Encoded, ddi_graph, pretraining_visits, validation_visits
from training.gbert.finetune import predict, recommendation_figures, run_finetuning
from training.gbert.pretrain import mean_loss, pretrain_loss, run_pretraining, visit_batches
from training.gbert.runs import build_model, load_checkpoint
from training.metrics import bootstrap_metrics, tune_threshold

StageResult = tuple[GBertConfig, FitResult, dict[str, Any]]


@dataclass(frozen=True)
class StageInputs:
    """What a stage trains on and where it writes.

    Attributes:
        config: the stage's options.
        vocabs: the run's vocabularies (``pretrain`` fits them; later stages inherit them).
        enc: the encoded patients of each split part.
        data_dir: the dataset directory (its own ``ddi.csv`` is the DDI table).
        init_dir: the run the stage starts from (``dha``, ``finetune``).
        ddi_path: DDI table CSV for the DDI rate when the dataset has no ``ddi.csv``, or ``None``.
        run_dir: the run directory (checkpoints).
        callbacks: called after each epoch (``training.fit``), on rank 0.
        show_progress: a tqdm bar per epoch on a terminal.
        dist: the ranks the stage trains on (:mod:`training.distributed`).
        use_procedures: the encoder reads procedures (``pretrain`` builds it so; later stages
            inherit the ``--init`` run's encoder, and ``enc`` is encoded to match).
    """

    config: TrainConfig
    vocabs: Vocabularies
    enc: Encoded
    data_dir: Path
    init_dir: Path | None
    ddi_path: Path | None
    run_dir: Path
    callbacks: Sequence[Callback] = ()
    show_progress: bool = True
    dist: Dist = field(default_factory=Dist)
    use_procedures: bool = False

    def init(self) -> Path:
        """The run directory the stage starts from.

        Raises:
            ValueError: if the stage has none.
        """
        if self.init_dir is None:
            raise ValueError(f"stage {self.config.stage} needs --init RUN_DIR")
        return self.init_dir


def _extra(cfg: TrainConfig, config: GBertConfig) -> dict[str, Any]:
    return {"config": config.to_json(), "run_config": cfg.record()}


def pretrain(s: StageInputs) -> StageResult:
    """Pre-train a fresh encoder on every visit; the validation loss picks ``best.ckpt``."""
    cfg, vocabs, enc = s.config, s.vocabs, s.enc
    config = GBertConfig(
        len(vocabs.diag),
        len(vocabs.med),
        hidden=cfg.hidden,
        layers=cfg.layers,
        heads=cfg.heads,
        head_dim=cfg.head_dim,
        intermediate=cfg.intermediate,
        use_procedures=s.use_procedures,
        num_proc_codes=len(vocabs.proc) if s.use_procedures else 0,
        mask_cls_key=cfg.mask_cls_key,
    )
    model = build_model("pretrain", config, vocabs)
    assert isinstance(model, GBertPretrain)
    result = run_pretraining(
        model,
        pretraining_visits(enc),
        validation_visits(enc),
        **_train_kwargs(s),
        run_dir=s.run_dir,
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


def _train_kwargs(s: StageInputs) -> dict[str, Any]:
    cfg = s.config
    return {
        "callbacks": s.callbacks,
        "show_progress": s.show_progress,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.stage_lr(),
        "mask_prob": cfg.mask_prob,
        "seed": cfg.seed,
        "dist": s.dist,
    }


def _load_pretrain(init_dir: Path, vocabs: Vocabularies) -> GBertPretrain:
    ckpt = load_checkpoint(init_dir / "best.ckpt")
    model = build_model("pretrain", GBertConfig.from_json(ckpt["config"]), vocabs)
    model.load_state_dict(ckpt["model"])
    assert isinstance(model, GBertPretrain)
    return model


def convert_dha(s: StageInputs) -> StageResult:
    """Convert a pre-trained encoder to DHA (or GQA), then continue pre-training it."""
    cfg, vocabs, enc = s.config, s.vocabs, s.enc
    model = _load_pretrain(s.init(), vocabs)
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
            (pad_tokens([diag_side(v, len(vocabs.diag)) for v in calib]), 0),
            (pad_tokens([v.rx for v in calib]), 1),
        ]
        choices = dha.search(encoder, dha.calibration_inputs(encoder, token_batches), cfg.kv_budget)
        info["search"] = [c.__dict__ for c in choices]
        dha.start_fusion(encoder, dha.plan_by_layer(choices, layers))
        lagrangian = dha.AugmentedLagrangian(cfg.fusion_eta)
        omegas = [f.omega for a in encoder.attention_layers() for f in fusions(a)]

        def fused_loss(m: GBertPretrain, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return pretrain_loss(m, batch) + lagrangian.penalty(dha.fusion_loss(m.encoder))

        fusion_dir = s.run_dir / "fusion"
        if s.dist.is_main:
            fusion_dir.mkdir(exist_ok=True)
        fused = run_pretraining(
            model,
            train,
            val,
            **{**_train_kwargs(s), "epochs": cfg.fusion_epochs},
            run_dir=fusion_dir,
            extra={"run_config": cfg.record()},
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
        model, train, val, **_train_kwargs(s), run_dir=s.run_dir, extra=_extra(cfg, config)
    )
    return config, result, {**info, "best_val_loss": result.best}


def finetune(s: StageInputs) -> StageResult:
    """Fine-tune a pre-trained encoder (or its adapters) to recommend; score every test visit."""
    cfg, vocabs, enc, run_dir = s.config, s.vocabs, s.enc, s.run_dir
    ckpt = load_checkpoint(s.init() / "best.ckpt")
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
    ddi_adj, ddi_source = ddi_graph(s.data_dir, s.ddi_path, vocabs)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = run_finetuning(
        model,
        enc["train"],
        enc["val"],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.stage_lr(),
        seed=cfg.seed,
        threshold=cfg.threshold,
        ddi_adj=ddi_adj,
        run_dir=run_dir,
        extra=_extra(cfg, config),
        callbacks=s.callbacks,
        show_progress=s.show_progress,
        dist=s.dist,
    )
    model.load_state_dict(load_checkpoint(run_dir / "best.ckpt")["model"])
    num_meds = len(vocabs.med)
    val_true, val_prob = predict(model, enc["val"], batch_size=cfg.batch_size, num_meds=num_meds)
    tuned = tune_threshold(val_true, val_prob)  # chosen on validation, served by the export
    test = enc["test"]
    y_true, y_prob = predict(model, test, batch_size=cfg.batch_size, num_meds=num_meds)
    figures = recommendation_figures(y_true, y_prob, threshold=cfg.threshold, ddi_adj=ddi_adj)
    boot = bootstrap_metrics(
        y_true, y_prob, threshold=cfg.threshold, ddi_adj=ddi_adj, seed=cfg.seed
    )
    boot_tuned = bootstrap_metrics(y_true, y_prob, threshold=tuned, ddi_adj=ddi_adj, seed=cfg.seed)
    return (
        config,
        result,
        {
            "test": figures,
            "test_bootstrap": boot,
            "ddi_source": ddi_source,
            "trainable_params": trainable,
            "test_patients": len(test),
            "test_visits": sum(len(p) for p in test),
            "threshold": cfg.threshold,
            "tuned_threshold": tuned,
            "test_tuned": boot_tuned,
        },
    )


STAGES: dict[str, Callable[[StageInputs], StageResult]] = {
    "pretrain": pretrain,
    "dha": convert_dha,
    "finetune": finetune,
}
