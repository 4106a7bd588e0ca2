"""The options of a GENN run (the networks' own config is ``GENNConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OptimConfig:
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
class TrainConfig:
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
    train: OptimConfig = field(default_factory=OptimConfig)


@dataclass(frozen=True)
class DecagonConfig:
    """A Decagon evaluation.

    Args:
        seeds: GENN seeds (1-3: those ``genn_split_ranks.csv`` holds).
        data_ratio: percentage of edges kept before the 80/10/10 cut (GENN's default 10).
        hidden: hidden size D.
        train: optimisation settings (its ``seed`` is replaced by each seed).
    """

    seeds: tuple[int, ...] = (1, 2, 3)
    data_ratio: float = 10.0
    hidden: int = 100
    train: OptimConfig = field(default_factory=OptimConfig)
