"""GENN training, full-batch as in the official code: the MLP and GNN baselines, then GENN.

1. :func:`train_mlp`: :class:`~models.genn.PairMLP` on node features only, BCE.
2. :func:`pretrain_gnn`: the inference network F with decoder φ, BCE. This is the GNN baseline.
3. :func:`train_genn`: ψ starts as a copy of φ, then each epoch runs an inference step and an
   energy step (official ``train_max`` / ``train_min``)::

       energy step:    ReLU(L1(F_φ, y) − w·E(x, F_φ) + E(x, y))                  (E's parameters)
       inference step: BCE(F_φ, y) − ReLU(L1(F_φ, y) − w·E(x, F_φ) + E(x, y))
                       + BCE(F_ψ, y) + E(x, F_ψ on train ∪ val ∪ test pairs)     (F's parameters)

   The last term is semi-supervised: val/test pairs enter the energy graph with ψ's predicted
   labels, never their true ones.

Every phase selects the epoch with the best validation macro ROC-AUC and stops after
``patience`` epochs without improvement. Encoders see the interacting train pairs in both
directions (the official code passes each pair once, so a node with only higher-indexed
partners never received a message).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from models.genn import GENNConfig, GENNEnergy, GENNInference, PairMLP
from training.genn.graph import GraphSplit
from training.genn.metrics import type_metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults: official ``get_commanders.py`` and ``DDI_Energy.py``).

    Args:
        seed: seeds torch for initialisation.
        lr: Adam learning rate of every network.
        mlp_epochs: max epochs of the MLP baseline (official: 1500).
        pretrain_epochs: max epochs of the GNN pre-training (official: 1500).
        genn_epochs: max alternating epochs of GENN (official: 1500).
        patience: epochs without a better validation ROC-AUC before stopping (official: 50).
        energy_weight: weight w of E(x, F_φ) in the hinge (official ``energy_phi_weight``).
        energy_weight_decay: Adam weight decay of the energy network (official: 1e-5).
        genn_lr: learning rate of both networks in the GENN phase; ``None`` uses ``lr``
            (official: a fresh Adam at ``lr`` on the pre-trained F).
        device: torch device of the tensors and networks ("cpu", "cuda").
    """

    seed: int = 1
    lr: float = 0.01
    mlp_epochs: int = 1500
    pretrain_epochs: int = 1500
    genn_epochs: int = 1500
    patience: int = 50
    energy_weight: float = 0.1
    energy_weight_decay: float = 1e-5
    genn_lr: float | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class GraphTensors:
    """A :class:`GraphSplit` as tensors, plus the encoder graph built from the train pairs."""

    x: Tensor
    enc_index: Tensor
    enc_attr: Tensor
    pairs: dict[str, Tensor]
    labels: dict[str, Tensor]
    all_pairs: Tensor

    def to(self, device: str) -> GraphTensors:
        """Return a copy with every tensor on ``device``."""
        return GraphTensors(
            x=self.x.to(device),
            enc_index=self.enc_index.to(device),
            enc_attr=self.enc_attr.to(device),
            pairs={k: v.to(device) for k, v in self.pairs.items()},
            labels={k: v.to(device) for k, v in self.labels.items()},
            all_pairs=self.all_pairs.to(device),
        )

    @classmethod
    def from_split(cls, split: GraphSplit) -> GraphTensors:
        """Build tensors; the encoder gets interacting train pairs in both directions."""
        pairs = {
            "train": torch.from_numpy(split.train_pairs),
            "val": torch.from_numpy(split.val_pairs),
            "test": torch.from_numpy(split.test_pairs),
        }
        labels = {
            "train": torch.from_numpy(split.train_labels),
            "val": torch.from_numpy(split.val_labels),
            "test": torch.from_numpy(split.test_labels),
        }
        enc_index, enc_attr = encoder_graph(split.train_pairs, split.train_labels)
        return cls(
            x=torch.from_numpy(split.x),
            enc_index=enc_index,
            enc_attr=enc_attr,
            pairs=pairs,
            labels=labels,
            all_pairs=torch.cat([pairs["train"], pairs["val"], pairs["test"]]),
        )


def encoder_graph(pairs: np.ndarray, labels: np.ndarray) -> tuple[Tensor, Tensor]:
    """Return ``edge_index [2, 2E]`` and ``edge_attr [2E, T]`` of the interacting pairs."""
    keep = labels.sum(axis=1) > 0
    p, y = torch.from_numpy(pairs[keep]), torch.from_numpy(labels[keep])
    edge_index = torch.cat([p.T, p.flip(1).T], dim=1)  # [2, 2E]
    return edge_index.contiguous(), torch.cat([y, y])


@dataclass
class History:
    """Per-epoch losses and validation metrics of one phase, and the selected epoch."""

    losses: list[float] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds_per_epoch: float = 0.0
    last_state: list[dict[str, Tensor]] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Return a plain-JSON form for metrics.json."""
        return {
            "losses": self.losses,
            "val": self.val,
            "best_epoch": self.best_epoch,
            "seconds_per_epoch": self.seconds_per_epoch,
        }


def _fit(
    name: str,
    modules: list[nn.Module],
    step: Callable[[], float],
    validate: Callable[[], dict[str, float]],
    epochs: int,
    patience: int,
) -> History:
    """Run ``step`` per epoch; keep the state with the best validation ROC-AUC (restored)."""
    history, best, best_state, waited = History(), -np.inf, None, 0
    start = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=name, disable=None)
    for epoch in bar:
        for m in modules:
            m.train()
        history.losses.append(step())
        val = validate()
        history.val.append(val)
        bar.set_postfix(loss=f"{history.losses[-1]:.4f}", val_roc=f"{val['roc_auc']:.4f}")
        if val["roc_auc"] > best:
            best, waited, history.best_epoch = val["roc_auc"], 0, epoch
            best_state = [copy.deepcopy(m.state_dict()) for m in modules]
        else:
            waited += 1
            if waited > patience:
                break
    history.seconds_per_epoch = (time.perf_counter() - start) / max(1, len(history.losses))
    history.last_state = [copy.deepcopy(m.state_dict()) for m in modules]
    if best_state is not None:
        for m, state in zip(modules, best_state, strict=True):
            m.load_state_dict(state)
    logger.info("%s: best epoch %d, val ROC-AUC %.4f", name, history.best_epoch, best)
    return history


@torch.no_grad()
def predict(model: nn.Module, g: GraphTensors, part: str, *, decoder: str = "psi") -> np.ndarray:
    """Return probabilities ``[P, T]`` of one split part, in eval mode."""
    model.eval()
    if isinstance(model, PairMLP):
        logits = model(g.x, g.pairs[part])
    else:
        assert isinstance(model, GENNInference)
        h = model.encode(g.x, g.enc_index, g.enc_attr)
        logits = getattr(model, decoder)(h, g.pairs[part])
    return torch.sigmoid(logits).cpu().numpy()


def evaluate(
    model: nn.Module, g: GraphTensors, part: str, *, decoder: str = "psi"
) -> dict[str, float]:
    """Return :func:`type_metrics` of ``model`` on one split part."""
    return type_metrics(g.labels[part].cpu().numpy(), predict(model, g, part, decoder=decoder))


def train_mlp(
    g: GraphTensors, model_config: GENNConfig, config: TrainConfig
) -> tuple[PairMLP, History]:
    """Train the MLP baseline on pair features only."""
    torch.manual_seed(config.seed)
    model = PairMLP(model_config).to(config.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(model(g.x, g.pairs["train"]), g.labels["train"])
        loss.backward()
        opt.step()
        return float(loss.detach())

    history = _fit(
        "mlp", [model], step, lambda: evaluate(model, g, "val"), config.mlp_epochs, config.patience
    )
    return model, history


def pretrain_gnn(
    g: GraphTensors, model_config: GENNConfig, config: TrainConfig
) -> tuple[GENNInference, History]:
    """Pre-train F (encoder + φ) with BCE: the GNN baseline. ψ is then set to a copy of φ."""
    torch.manual_seed(config.seed)
    model = GENNInference(model_config).to(config.device)
    opt = torch.optim.Adam([*model.encoder.parameters(), *model.phi.parameters()], lr=config.lr)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        h = model.encode(g.x, g.enc_index, g.enc_attr)
        loss = F.binary_cross_entropy_with_logits(model.phi(h, g.pairs["train"]), g.labels["train"])
        loss.backward()
        opt.step()
        return float(loss.detach())

    history = _fit(
        "gnn",
        [model],
        step,
        lambda: evaluate(model, g, "val", decoder="phi"),
        config.pretrain_epochs,
        config.patience,
    )
    model.psi.load_state_dict(model.phi.state_dict())
    return model, history


def _hinge(prob: Tensor, energy: GENNEnergy, g: GraphTensors, w: float) -> Tensor:
    """ReLU(L1(F_φ, y) − w·E(x, F_φ) + E(x, y)) on the train pairs (the cost-augmented hinge)."""
    y = g.labels["train"]
    train_index = g.pairs["train"].T.contiguous()  # [2, P_train]
    margin = F.l1_loss(prob, y) - w * energy(g.x, train_index, prob) + energy(g.x, train_index, y)
    return torch.relu(margin)


def train_genn(
    model: GENNInference, g: GraphTensors, model_config: GENNConfig, config: TrainConfig
) -> tuple[GENNEnergy, History]:
    """Alternate inference and energy steps from a pre-trained ``model`` (updated in place)."""
    torch.manual_seed(config.seed)
    energy = GENNEnergy(model_config).to(config.device)
    lr = config.lr if config.genn_lr is None else config.genn_lr
    opt_f = torch.optim.Adam(model.parameters(), lr=lr)
    opt_e = torch.optim.Adam(energy.parameters(), lr=lr, weight_decay=config.energy_weight_decay)
    all_index = g.all_pairs.T.contiguous()  # [2, P_all]
    w = config.energy_weight

    def step() -> float:
        y = g.labels["train"]
        opt_f.zero_grad(set_to_none=True)
        h = model.encode(g.x, g.enc_index, g.enc_attr)
        logits_phi = model.phi(h, g.pairs["train"])
        hinge = _hinge(torch.sigmoid(logits_phi), energy, g, w)
        bce_phi = F.binary_cross_entropy_with_logits(logits_phi, y)
        bce_psi = F.binary_cross_entropy_with_logits(model.psi(h, g.pairs["train"]), y)
        e_psi = energy(g.x, all_index, torch.sigmoid(model.psi(h, g.all_pairs)))
        loss_f = bce_phi - hinge + bce_psi + e_psi
        loss_f.backward()
        opt_f.step()

        opt_e.zero_grad(set_to_none=True)
        with torch.no_grad():
            h = model.encode(g.x, g.enc_index, g.enc_attr)
            prob_phi = torch.sigmoid(model.phi(h, g.pairs["train"]))
        loss_e = _hinge(prob_phi, energy, g, w)
        loss_e.backward()
        opt_e.step()
        return float(loss_f.detach())

    history = _fit(
        "genn",
        [model, energy],
        step,
        lambda: evaluate(model, g, "val"),
        config.genn_epochs,
        config.patience,
    )
    return energy, history
