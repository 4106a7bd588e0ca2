r"""GENN: a graph energy neural network for drug-drug interaction type prediction.

Ma, Shang, Xiao & Sun, "GENN: Predicting Correlated Drug-drug Interactions with Graph Energy
Neural Networks", arXiv:1910.02107 (https://arxiv.org/abs/1910.02107); official code:
https://github.com/ICLR2020-code/GENN (``torch_geometric/nn/models/model_DDI*.py``).

Drugs are nodes; each known interacting pair is an edge labelled with a multi-hot vector of
interaction types. The inference network ``F`` encodes the graph with edge-conditioned
convolutions whose weights are computed from the edge label vectors, and decodes a pair's type
logits from the two node embeddings. The energy network ``E`` scores a whole labelling of the
graph with one scalar, so training can push ``F`` towards labellings whose type correlations
look like the real ones.

Dimension letters: N nodes (drugs), E edges given to an encoder, P scored pairs, F node feature
size, T interaction types, D hidden size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn
from torch_geometric.nn import NNConv

__all__ = [
    "EdgeConditionedConv",
    "EdgeDecoder",
    "GENNConfig",
    "GENNEnergy",
    "GENNEncoder",
    "GENNInference",
    "PairMLP",
]


@dataclass(frozen=True)
class GENNConfig:
    """Sizes of the GENN networks (official code: ``DDItest/DDI_Energy.py``, ``dim = 100``).

    Args:
        num_features: node feature size F (32 for the random projection of one-hot ids).
        num_types: number of interaction types T.
        hidden: hidden size D of encoders, decoders and the energy head.
        nonnegative_energy: apply ReLU to the energy scalar, as the official
            ``DDI_Energy_Pooling`` does (the paper's equations leave it unconstrained).
    """

    num_features: int = 32
    num_types: int = 1
    hidden: int = 100
    nonnegative_energy: bool = True

    def __post_init__(self) -> None:
        for name in ("num_features", "num_types", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"GENNConfig: {name} must be >= 1, got {getattr(self, name)}")


def _edge_mlp(num_types: int, hidden: int, in_dim: int, out_dim: int) -> nn.Sequential:
    """The NNConv edge network: label vector [E, T] -> flattened weight matrices [E, in*out]."""
    return nn.Sequential(
        nn.Linear(num_types, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, in_dim * out_dim),
    )


class EdgeConditionedConv(NNConv):
    r"""PyG's :class:`~torch_geometric.nn.conv.NNConv` (mean aggregation), computed factorised.

    Same parameters, initialisation and output as ``NNConv(in, out, edge_mlp, aggr="mean")``
    when ``edge_mlp`` ends in a :class:`~torch.nn.Linear` ``A z + b`` from a hidden size K to
    ``in * out``. ``NNConv`` builds every edge's ``[in, out]`` weight matrix, which costs
    :math:`E \cdot K \cdot in \cdot out` multiply-adds. This layer uses
    :math:`\mathbf{x}_j^\top W(\mathbf{z}_e) = \mathbf{z}_e^\top P_j + \mathbf{x}_j^\top B`
    with :math:`P_j = \sum_i x_{ji} A_{i\cdot\cdot}` computed once per *node*
    (:math:`N \cdot in \cdot K \cdot out`), then one batched matmul of each source node's
    outgoing :math:`\mathbf{z}_e` (padded to the largest out-degree) with its :math:`P_j`.

    .. math::
        \mathbf{x}'_i = \mathbf{\Theta}\mathbf{x}_i + \mathbf{b} +
            \operatorname{mean}_{e = (j \to i)} \big(\mathbf{z}_e^\top P_j +
            \mathbf{x}_j^\top B\big), \qquad
        \mathbf{z}_e = \mathrm{MLP}_{<\text{last}}(\mathbf{y}_e)

    Args:
        in_channels: input node size.
        out_channels: output node size.
        edge_nn: the edge network, a :class:`~torch.nn.Sequential` whose last module is
            ``Linear(K, in_channels * out_channels)`` (NNConv's ``nn``).

    Shapes:
        - input: node features :math:`(N, in)`, edge index :math:`(2, E)` int64 (messages flow
          from ``edge_index[0]`` to ``edge_index[1]``), edge features :math:`(E, T)`
        - output: :math:`(N, out)`
    """

    def __init__(self, in_channels: int, out_channels: int, edge_nn: nn.Sequential) -> None:
        last = edge_nn[-1]
        if not isinstance(last, nn.Linear) or last.out_features != in_channels * out_channels:
            raise ValueError("EdgeConditionedConv: edge_nn must end in Linear(K, in * out)")
        super().__init__(in_channels, out_channels, edge_nn, aggr="mean")

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Return the new node features ``[N, out]``."""
        n, d_in, d_out = x.shape[0], self.in_channels_l, self.out_channels
        edge_nn = cast(nn.Sequential, self.nn)
        last = cast(nn.Linear, edge_nn[-1])
        k = last.in_features
        z = edge_nn[:-1](edge_attr)  # [E, K]
        p = (x @ last.weight.view(d_in, d_out * k)).view(n, d_out, k)  # [N, out, K]
        src, dst = edge_index[0], edge_index[1]
        order = torch.argsort(src, stable=True)  # edges grouped by source node
        counts = torch.bincount(src, minlength=n)  # [N] out-degrees
        slot = torch.arange(len(src), device=x.device) - (counts.cumsum(0) - counts)[src[order]]
        width = int(counts.max()) if len(src) else 0
        z_pad = x.new_zeros(n, width, k).index_put((src[order], slot), z[order])  # [N, W, K]
        m_pad = torch.bmm(z_pad, p.transpose(1, 2))  # [N, W, out]
        msg = x.new_empty(len(src), d_out).index_put((order,), m_pad[src[order], slot])  # [E, out]
        msg = msg + (x @ last.bias.view(d_in, d_out))[src]
        total = x.new_zeros(n, d_out).index_add(0, dst, msg)
        degree = x.new_zeros(n).index_add(0, dst, x.new_ones(len(dst))).clamp(min=1)
        out: Tensor = total / degree[:, None] + self.lin(x)
        return out if self.bias is None else out + self.bias


def _reset(module: nn.Module) -> None:
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if child is not module and callable(reset):
            reset()


class GENNEncoder(nn.Module):
    r"""Two edge-conditioned convolutions, as in GENN's ``DDIEncoder``.

    NNConv is from Gilmer et al. 2017, "Neural Message Passing for Quantum Chemistry",
    https://arxiv.org/abs/1704.01212; :class:`EdgeConditionedConv` computes it factorised.

    .. math::
        \mathbf{h}^{(1)}_i = \mathrm{ReLU}\Big(\mathrm{BN}\big(\mathbf{W}_1\mathbf{x}_i +
            \operatorname{mean}_{j \in \mathcal{N}(i)} g_1(\mathbf{y}_{ji})\,\mathbf{x}_j\big)\Big)
        \qquad
        \mathbf{h}_i = \mathbf{W}_2\mathbf{h}^{(1)}_i +
            \operatorname{mean}_{j \in \mathcal{N}(i)} g_2(\mathbf{y}_{ji})\,\mathbf{h}^{(1)}_j

    where :math:`g_k` maps an edge's label vector :math:`\mathbf{y}_{ji} \in [0,1]^T` to a
    weight matrix.

    Args:
        config: sizes (``num_features``, ``num_types``, ``hidden``).

    Shapes:
        - input: node features :math:`(N, F)`, edge index :math:`(2, E)` int64 (messages flow
          from ``edge_index[0]`` to ``edge_index[1]``), edge labels :math:`(E, T)`
        - output: node embeddings :math:`(N, D)`
    """

    def __init__(self, config: GENNConfig) -> None:
        super().__init__()
        f, t, d = config.num_features, config.num_types, config.hidden
        self.conv1 = EdgeConditionedConv(f, d, _edge_mlp(t, d, f, d))
        self.norm = nn.BatchNorm1d(d)
        self.conv2 = EdgeConditionedConv(d, d, _edge_mlp(t, d, d, d))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise both convolutions, their edge networks and the norm."""
        _reset(self)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Return node embeddings ``[N, D]``."""
        h = torch.relu(self.norm(self.conv1(x, edge_index, edge_attr)))
        out: Tensor = self.conv2(h, edge_index, edge_attr)
        return out


class EdgeDecoder(nn.Module):
    r"""Pair decoder of GENN (``DDI_MLP`` on node embeddings): type logits of a drug pair.

    .. math::
        \mathbf{z}_{ij} = \mathbf{W}_2\,\mathrm{ReLU}\big(\mathrm{BN}(\mathbf{W}_1
            [\mathbf{h}_i \,\|\, \mathbf{h}_j])\big)

    The sigmoid is applied outside (losses use logits; the exported wrapper adds it).

    Args:
        in_dim: size of one node vector (D for GENN, F for the MLP baseline).
        hidden: hidden size.
        num_types: number of interaction types T.

    Shapes:
        - input: node vectors :math:`(N, \text{in\_dim})`, pairs :math:`(P, 2)` int64
        - output: logits :math:`(P, T)`
    """

    def __init__(self, in_dim: int, hidden: int, num_types: int) -> None:
        super().__init__()
        self.in_dim, self.hidden, self.num_types = in_dim, hidden, num_types
        self.mlp = nn.Sequential(
            nn.Linear(2 * in_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_types),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the MLP."""
        _reset(self)

    def forward(self, h: Tensor, pairs: Tensor) -> Tensor:
        """Return type logits ``[P, T]`` for ``pairs`` ``[P, 2]``."""
        z = torch.cat([h[pairs[:, 0]], h[pairs[:, 1]]], dim=-1)  # [P, 2*in_dim]
        out: Tensor = self.mlp(z)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({2 * self.in_dim}, {self.hidden}, {self.num_types})"


class GENNInference(nn.Module):
    r"""Inference network F of GENN, with its two decoders.

    Ma, Shang, Xiao & Sun, "GENN: Predicting Correlated Drug-drug Interactions with Graph
    Energy Neural Networks", https://arxiv.org/abs/1910.02107.

    .. math::
        \mathbf{H} = \mathrm{Enc}(\mathbf{X}, \mathcal{E}_{\text{train}}, \mathbf{Y}_{\text{train}})
        \qquad
        F_\phi(i, j) = \sigma(\phi(\mathbf{h}_i, \mathbf{h}_j)), \quad
        F_\psi(i, j) = \sigma(\psi(\mathbf{h}_i, \mathbf{h}_j))

    :math:`\phi` is the cost-augmented decoder used while training against the energy network;
    :math:`\psi` is the test-time decoder. Pre-trained alone with BCE, ``F`` (with :math:`\phi`)
    is the GNN baseline. ``forward`` returns the :math:`\psi` logits.

    Args:
        config: :class:`GENNConfig`.

    Shapes:
        - input: node features :math:`(N, F)`, encoder edges :math:`(2, E)` int64 with their
          label vectors :math:`(E, T)`, pairs to score :math:`(P, 2)` int64
        - output: :math:`\psi` logits :math:`(P, T)`
    """

    def __init__(self, config: GENNConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = GENNEncoder(config)
        self.phi = EdgeDecoder(config.hidden, config.hidden, config.num_types)
        self.psi = EdgeDecoder(config.hidden, config.hidden, config.num_types)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the encoder and both decoders."""
        _reset(self)

    def encode(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Return node embeddings ``[N, D]``."""
        out: Tensor = self.encoder(x, edge_index, edge_attr)
        return out

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, pairs: Tensor) -> Tensor:
        """Return the test-time (psi) logits ``[P, T]``."""
        out: Tensor = self.psi(self.encode(x, edge_index, edge_attr), pairs)
        return out


class GENNEnergy(nn.Module):
    r"""Energy network E of GENN: one scalar for a labelled graph (``DDI_Energy_Net``).

    .. math::
        E(\mathbf{X}, \mathcal{E}, \mathbf{Y}) = \mathbf{w}_2^\top \mathrm{ReLU}\Big(\mathbf{W}_1
            \tfrac{1}{N}\textstyle\sum_i \mathrm{Enc}_E(\mathbf{X}, \mathcal{E}, \mathbf{Y})_i
            \Big) + b_2

    followed by a ReLU when ``config.nonnegative_energy`` (official code). The encoder is a
    separate :class:`GENNEncoder`; the labels :math:`\mathbf{Y}` may be true (0/1) or predicted
    probabilities.

    Args:
        config: :class:`GENNConfig`.

    Shapes:
        - input: node features :math:`(N, F)`, edges :math:`(2, E)` int64, labels :math:`(E, T)`
        - output: scalar :math:`()`
    """

    def __init__(self, config: GENNConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = GENNEncoder(config)
        self.head = nn.Sequential(
            nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the encoder and the head."""
        _reset(self)

    def forward(self, x: Tensor, edge_index: Tensor, labels: Tensor) -> Tensor:
        """Return the energy (a 0-d tensor)."""
        pooled = self.encoder(x, edge_index, labels).mean(dim=0)  # [D]
        energy = self.head(pooled).squeeze(-1)  # []
        return torch.relu(energy) if self.config.nonnegative_energy else energy


class PairMLP(nn.Module):
    r"""MLP baseline on pair features only (GENN's ``DDI_MLP`` applied to raw node features).

    .. math::
        \mathbf{z}_{ij} = \mathrm{MLP}([\mathbf{x}_i \,\|\, \mathbf{x}_j])

    Args:
        config: :class:`GENNConfig` (``num_features``, ``hidden``, ``num_types``).

    Shapes:
        - input: node features :math:`(N, F)`, pairs :math:`(P, 2)` int64
        - output: logits :math:`(P, T)`
    """

    def __init__(self, config: GENNConfig) -> None:
        super().__init__()
        self.config = config
        self.decoder = EdgeDecoder(config.num_features, config.hidden, config.num_types)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the decoder."""
        _reset(self)

    def forward(self, x: Tensor, pairs: Tensor) -> Tensor:
        """Return type logits ``[P, T]``."""
        out: Tensor = self.decoder(x, pairs)
        return out
