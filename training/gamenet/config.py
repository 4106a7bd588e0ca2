"""The run configuration of a GAMENet training run (the model's own is ``GAMENetConfig``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Mode = Literal["reference", "batched"]
SplitMethod = Literal["literature", "random"]
DdiLoss = Literal["mixed", "separate", "off"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train GAMENet. Defaults are the official code's (``code/train_GAMENet.py``).

    Args:
        mode: ``reference`` makes one Adam step per visit (batch size 1, patients in file order),
            as the official code; ``batched`` makes one step per ``batch_size`` patients, every
            visit predicted at once, with the memory bank computed once per step.
        epochs: passes over the training patients.
        lr: Adam learning rate; ``None`` means the mode's default (``reference_lr`` or
            ``batched_lr``).
        batch_size: patients per step in batched mode.
        threshold: a med is predicted when its probability is >= this.
        target_ddi: the DDI rate above which the annealed DDI loss may replace the prediction loss.
        temperature: the annealing temperature T at the first epoch.
        temperature_decay: T is multiplied by this after each epoch.
        grad_clip: max gradient norm, or ``None`` (the official code does not clip).
        split: ``literature`` (file order: 2/3 train, 1/6 test, 1/6 val) or ``random``.
        seed: seeds python, numpy and torch, the split, the shuffling and the annealing draws.
        eval_batch_size: patients per forward pass when evaluating.
        bootstrap_rounds: rounds of the 80% patient bootstrap on the test split.
        ddi_loss: how a step uses the visits whose annealed draw chose the DDI loss: ``mixed``
            averages their DDI loss with the other visits' prediction loss (in reference mode,
            one visit a step, this is the official step); ``separate`` makes one Adam step on the
            other visits' mean prediction loss, then one on the chosen visits' mean DDI loss (the
            official code's separately normalised DDI step, batched); ``off`` never uses it.
        graph_norm: ``GAMENetConfig.graph_norm`` (``symmetric`` or the official ``row``, default).
        gcn_init: ``GAMENetConfig.gcn_init`` (``glorot`` or the official ``uniform``, default).
        lr_schedule: ``constant`` (the official code's) or ``cosine``: epoch ``e`` of ``E`` trains
            at ``lr · (1 + cos(π (e - 1) / E)) / 2``.
    """

    mode: Mode = "batched"
    epochs: int = 40
    lr: float | None = None
    batch_size: int = 16
    threshold: float = 0.5
    target_ddi: float = 0.05
    temperature: float = 0.5
    temperature_decay: float = 0.85
    grad_clip: float | None = None
    split: SplitMethod = "literature"
    seed: int = 0
    eval_batch_size: int = 512
    bootstrap_rounds: int = 10
    ddi_loss: DdiLoss = "mixed"
    # The official code's GCN (row-normalised A + I, uniform init with bias), for parity: on the
    # MIMIC-size synthetic set (bench/gamenet_reference.py, batched, 40 epochs) it scored test
    # Jaccard 0.5024 / 0.4978 (seeds 0, 1) against 0.4974 / 0.4986 / 0.4997 (seeds 0-2) with
    # GCNConv's: within seed noise, no cost. GAMENetConfig keeps GCNConv's defaults so that
    # checkpoints written before these fields load unchanged.
    graph_norm: Literal["symmetric", "row"] = "row"
    gcn_init: Literal["glorot", "uniform"] = "uniform"
    lr_schedule: Literal["constant", "cosine"] = "constant"

    reference_lr = 2e-4  # the official code's Adam lr (one step per visit)
    # Batched mode takes ~35x fewer steps per epoch (16 patients, ~35 visits a step), so its Adam
    # lr is larger: on the MIMIC-size synthetic set 3e-3 beat 1e-3 and 2e-3 (batch 8) in val
    # Jaccard per CPU second over 6 epochs (see bench/gamenet_train.py). --lr overrides it.
    batched_lr = 3e-3

    def __post_init__(self) -> None:
        if self.mode not in ("reference", "batched"):
            raise ValueError("TrainConfig: mode must be 'reference' or 'batched'")
        if self.split not in ("literature", "random"):
            raise ValueError("TrainConfig: split must be 'literature' or 'random'")
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("TrainConfig: epochs and batch sizes must be >= 1")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("TrainConfig: threshold must be in (0, 1)")
        if self.temperature <= 0 or not 0 < self.temperature_decay <= 1:
            raise ValueError("TrainConfig: temperature must be > 0 and decay in (0, 1]")
        if self.ddi_loss not in ("mixed", "separate", "off"):
            raise ValueError("TrainConfig: ddi_loss must be 'mixed', 'separate' or 'off'")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError("TrainConfig: lr_schedule must be 'constant' or 'cosine'")
        if self.lr is not None and self.lr <= 0:
            raise ValueError("TrainConfig: lr must be > 0")

    @property
    def learning_rate(self) -> float:
        """The Adam learning rate this run uses."""
        if self.lr is not None:
            return self.lr
        return self.reference_lr if self.mode == "reference" else self.batched_lr

    def epoch_lr(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based) under ``lr_schedule``."""
        if self.lr_schedule == "constant":
            return self.learning_rate
        return self.learning_rate * (1 + math.cos(math.pi * (epoch - 1) / self.epochs)) / 2

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form, with the effective learning rate."""
        return {**asdict(self), "lr": self.learning_rate}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrainConfig:
        """Build from :meth:`to_json`'s form; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = set(obj) - names
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {sorted(unknown)}")
        return cls(**obj)
