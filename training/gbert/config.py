"""The options of one ``medrec train gbert`` stage (the model's own config is ``GBertConfig``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from models.gbert.config import AdapterConfig

Stage = Literal["pretrain", "dha", "finetune"]
Codes = Literal["diag", "diag+proc"]


@dataclass(frozen=True)
class TrainConfig:
    """Options of one ``medrec train gbert`` stage.

    Args:
        stage: ``pretrain``, ``dha`` (search → fusion → collapse → continued pre-training) or
            ``finetune`` (recommendation head, optionally adapters only).
        epochs: training epochs of the stage (for ``dha``: continued pre-training epochs).
        batch_size: visits per batch (pre-training) or patients per batch (fine-tuning). The
            official code pre-trains on 64 visits a step but fine-tunes on one patient a step
            (``run_gbert.py --train_batch_size 1``): at the same lr and epochs, the default 64
            patients make 64x fewer fine-tuning steps.
        lr: Adam learning rate; ``None`` means the stage's default (:meth:`stage_lr`).
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
        split: ``literature`` (file order, GAMENet's split and ``medrec train gamenet``'s default)
            or ``random``.
        calibration_visits: DHA search: visits of calibration activations.
        mask_cls_key: hide the [CLS] key from a set's attention, as the official code
            (``pretrain`` only; ``GBertConfig.mask_cls_key`` has the measured effect).
        codes: the visit codes the encoder reads (``pretrain`` only; later stages inherit the
            ``--init`` run's): ``diag+proc``, diagnoses with the procedures as context tokens
            (the inputs of LR and GAMENet), or ``diag``, the paper's diagnoses alone. A
            dataset without procedure codes trains ``diag``; ``run.json`` records what ran.
    """

    stage: Stage = "pretrain"
    epochs: int = 5
    batch_size: int = 64
    lr: float | None = None
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
    split: Literal["literature", "random"] = "literature"
    calibration_visits: int = 256
    codes: Codes = "diag+proc"
    mask_cls_key: bool = False

    pretrain_lr = 5e-4  # G-BERT's lr (pre-training and continued pre-training after DHA)
    # Fine-tuning takes 64 patients a step where the official code takes one, so 64x fewer
    # steps: at 2e-3 the MIMIC-size synthetic set's validation Jaccard rose from 0.4932 to 0.5249
    # (diag+proc; 0.4789 to 0.5103 diag-only), same pre-training, 15 epochs. --lr overrides it.
    finetune_lr = 2e-3

    def stage_lr(self) -> float:
        """Return the Adam learning rate this stage trains at."""
        if self.lr is not None:
            return self.lr
        return self.finetune_lr if self.stage == "finetune" else self.pretrain_lr

    def record(self) -> dict[str, Any]:
        """Return the options as run (the learning rate resolved), for ``run.json``."""
        return {**asdict(self), "lr": self.stage_lr()}

    def adapter_config(self) -> AdapterConfig | None:
        """Return the adapter of a fine-tuning run, or ``None`` for full fine-tuning."""
        if self.adapter == "none":
            return None
        return AdapterConfig(self.adapter, self.rank, self.experts, self.alpha, self.routing)
