r"""GAMENet: graph-augmented memory networks for medication recommendation.

Shang, Xiao, Ma, Li and Sun, "GAMENet: Graph Augmented MEmory Networks for Recommending Medication
Combination", AAAI 2019, https://arxiv.org/abs/1809.01852. Details the paper leaves open follow the
authors' code (github.com/sjy1203/GAMENet, ``code/models.py``): mean-pooled code embeddings with
dropout 0.4, a ReLU before the query and output layers, the unscaled dot-product reads, and the
uniform(-0.1, 0.1) init of the embeddings and of :math:`\beta`.

The one departure is batching: the authors' model reads one patient prefix and predicts its last
visit. This one reads a padded batch of patients and predicts *every* visit at once; a visit only
attends to earlier visits, so each visit's logits equal the authors' prefix output (tested).

Dimension letters: B batch (patients), V visits, C codes per visit (Cd diagnoses, Cp procedures),
M medications, D embedding size (``emb_dim``), N graph nodes (= M), E edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

# The official code's init range for code embeddings and for beta (``init_weights``).
_INIT_RANGE = 0.1

GraphNorm = Literal["symmetric", "row"]
GcnInit = Literal["glorot", "uniform"]


@dataclass(frozen=True)
class GAMENetConfig:
    """Sizes and hyper-parameters of :class:`GAMENet`.

    Args:
        num_diag_codes: diagnosis vocabulary size.
        num_proc_codes: procedure vocabulary size.
        num_meds: medication vocabulary size (|M|, the graphs' node count).
        emb_dim: code embedding size D; the GRUs have 2·D hidden units (default 64).
        embedding_dropout: dropout on each code embedding before pooling (default 0.4).
        gcn_dropout: dropout between the two GCN layers (default 0.3).
        use_ddi_memory: subtract the DDI graph's embedding from the memory bank (default
            ``True``; the official code's ``--ddi`` flag, which its published results use).
        graph_norm: how the GCN normalises :math:`A + I`: ``symmetric``
            :math:`D^{-1/2}(A+I)D^{-1/2}` (``GCNConv``'s own) or ``row`` :math:`D^{-1}(A+I)` (the
            official ``GCN.normalize``).
        gcn_init: ``glorot`` (``GCNConv``'s: glorot weights, zero bias) or ``uniform`` (the
            official ``GraphConvolution``: weight and bias uniform(±1/sqrt(out))).
    """

    num_diag_codes: int
    num_proc_codes: int
    num_meds: int
    emb_dim: int = 64
    embedding_dropout: float = 0.4
    gcn_dropout: float = 0.3
    use_ddi_memory: bool = True
    graph_norm: GraphNorm = "symmetric"
    gcn_init: GcnInit = "glorot"

    def __post_init__(self) -> None:
        if self.graph_norm not in ("symmetric", "row"):
            raise ValueError("GAMENetConfig: graph_norm must be 'symmetric' or 'row'")
        if self.gcn_init not in ("glorot", "uniform"):
            raise ValueError("GAMENetConfig: gcn_init must be 'glorot' or 'uniform'")
        for name in ("num_diag_codes", "num_proc_codes", "num_meds", "emb_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"GAMENetConfig: {name} must be >= 1")
        for name in ("embedding_dropout", "gcn_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"GAMENetConfig: {name} must be in [0, 1)")


class GraphEncoder(nn.Module):
    r"""Two GCN layers over a fixed medication graph, with one-hot node features.

    .. math::
        Z = \hat{A}\,\mathrm{dropout}(\mathrm{ReLU}(\hat{A} I W_1 + b_1))\,W_2 + b_2,
        \qquad \hat{A} = \hat{D}^{-1/2}(A + I)\hat{D}^{-1/2}

    The layers are torch-geometric ``GCNConv`` modules and :math:`\hat{A}` is their own
    ``gcn_norm``; propagation multiplies by :math:`\hat{A}` held dense. Medication graphs are
    small and dense (|M| ≈ 150, most pairs co-prescribed somewhere), where the dense product is
    an order of magnitude faster than scatter-based message passing; the result equals
    ``GCNConv.forward(x, edge_index)`` (tested).

    Args:
        num_nodes (int): number of medications N.
        dim (int): output size D.
        edge_index (Tensor): the graph's edges, int64 ``[2, E]``; stored as a buffer.
        dropout (float): dropout between the layers.

    Shapes:
        output: ``[N, D]``.
    """

    edge_index: Tensor
    x: Tensor
    adj: Tensor

    def __init__(
        self,
        num_nodes: int,
        dim: int,
        edge_index: Tensor,
        dropout: float,
        norm: GraphNorm = "symmetric",
        init: GcnInit = "glorot",
    ) -> None:
        super().__init__()
        self.num_nodes = num_nodes
        self.init = init
        self.conv1 = GCNConv(num_nodes, dim)
        self.conv2 = GCNConv(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("edge_index", edge_index.long())
        # Derived from edge_index, so not saved: one-hot features and the normalised adjacency.
        self.register_buffer("x", torch.eye(num_nodes), persistent=False)
        adj = normalized_adjacency(edge_index, num_nodes, norm)
        self.register_buffer("adj", adj, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise both GCN layers (``glorot``, or the official ``uniform``)."""
        for conv in (self.conv1, self.conv2):
            conv.reset_parameters()  # glorot weights, zero bias
            if self.init == "uniform":
                # GraphConvolution.reset_parameters: stdv = 1 / sqrt(out_features).
                stdv = conv.out_channels**-0.5
                nn.init.uniform_(conv.lin.weight, -stdv, stdv)
                if conv.bias is not None:
                    nn.init.uniform_(conv.bias, -stdv, stdv)

    def _propagate(self, conv: GCNConv, x: Tensor) -> Tensor:
        out: Tensor = self.adj @ conv.lin(x)  # [N, N] @ [N, D] -> [N, D]
        return out + conv.bias if conv.bias is not None else out

    def forward(self) -> Tensor:
        """Return the node embeddings ``[N, D]``."""
        h = F.relu(self._propagate(self.conv1, self.x))  # [N, D]
        return self._propagate(self.conv2, self.dropout(h))  # [N, D]

    def __repr__(self) -> str:
        edges = int(self.edge_index.size(1))
        return f"{self.__class__.__name__}(nodes={self.num_nodes}, edges={edges})"


def normalized_adjacency(
    edge_index: Tensor, num_nodes: int, norm: GraphNorm = "symmetric"
) -> Tensor:
    r"""Return the normalised :math:`A + I` as a dense ``[N, N]``.

    ``symmetric`` is ``GCNConv``'s :math:`\hat{D}^{-1/2}(A + I)\hat{D}^{-1/2}`; ``row`` is the
    official code's :math:`\hat{D}^{-1}(A + I)` (each row sums to 1). Row ``i`` holds the weights
    of the messages node ``i`` receives (flow source → target).
    """
    if norm == "row":
        adj = torch.zeros(num_nodes, num_nodes, device=edge_index.device)
        edges = edge_index.long()
        adj[edges[1], edges[0]] = 1.0
        adj = adj + torch.eye(num_nodes, device=adj.device)
        adj.diagonal().clamp_(max=1.0)  # a listed self-loop counts once, as in A + I of 0/1 A
        return adj / adj.sum(-1, keepdim=True)
    index, weight = gcn_norm(edge_index.long(), None, num_nodes, add_self_loops=True)
    assert weight is not None
    adj = torch.zeros(num_nodes, num_nodes, device=weight.device)
    adj.index_put_((index[1], index[0]), weight, accumulate=True)  # target row, source column
    return adj


class VisitEncoder(nn.Module):
    r"""Mean-pooled code embeddings fed to a GRU over the visit sequence.

    .. math::
        e_t = \frac{1}{|c_t|}\sum_{c \in c_t} \mathrm{dropout}(E\,c), \qquad
        h_t = \mathrm{GRU}(e_t, h_{t-1})

    A visit with no (known) codes pools to the zero vector; the official code would produce NaN.

    Shapes:
        ids, mask: ``[B, V, C]``; output: ``[B, V, 2D]``.
    """

    def __init__(self, num_codes: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_codes, dim)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, 2 * dim, batch_first=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Embeddings uniform(-0.1, 0.1) as in the official code; the GRU's own default init."""
        nn.init.uniform_(self.embedding.weight, -_INIT_RANGE, _INIT_RANGE)
        self.gru.reset_parameters()

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Encode every visit of every patient (visits left-aligned, so the GRU stays causal)."""
        emb = self.dropout(self.embedding(ids)) * mask.unsqueeze(-1)  # [B, V, C, D]
        count = mask.sum(-1, keepdim=True).clamp(min=1.0)  # [B, V, 1]
        pooled = emb.sum(2) / count  # [B, V, D]
        out: Tensor = self.gru(pooled)[0]  # [B, V, 2D]
        return out


class GAMENet(nn.Module):
    r"""GAMENet (Shi et al., AAAI 2019), predicting every visit of a padded batch.

    For visit :math:`t` with query :math:`q_t` and memory bank
    :math:`M_b = \mathrm{GCN}_{EHR} - \beta\,\mathrm{GCN}_{DDI}` (``[M, D]``):

    .. math::
        q_t &= W_q\,\mathrm{ReLU}([h^{d}_t; h^{p}_t]) + b_q \\
        o^{b}_t &= \mathrm{softmax}(q_t M_b^\top)\,M_b \\
        o^{d}_t &= \big(\mathrm{softmax}(q_t\,[q_1..q_{t-1}]^\top)\,[m_1..m_{t-1}]\big)\,M_b
                   \quad (o^{d}_1 = o^{b}_1) \\
        \hat{y}_t &= \mathrm{MLP}(\mathrm{ReLU}([q_t; o^{b}_t; o^{d}_t]))

    where :math:`m_s` is the multi-hot medication vector of past visit :math:`s` (the dynamic
    memory's values; its keys are the past queries) and the MLP is Linear(3D→2D), ReLU,
    Linear(2D→M).

    Args:
        config (GAMENetConfig): sizes and dropout.
        ehr_edge_index (Tensor): EHR co-prescription graph, int64 ``[2, E]`` (a buffer).
        ddi_edge_index (Tensor): DDI graph, int64 ``[2, E]`` (a buffer).

    Shapes:
        diag_ids, diag_mask: ``[B, V, Cd]`` (int64, float32);
        proc_ids, proc_mask: ``[B, V, Cp]``;
        med_history: ``[B, V, M]`` float32, the meds given at each visit (row :math:`t` is only
        read by visits after :math:`t`);
        visit_mask: ``[B, V]`` float32, 1.0 for real visits, left-aligned;
        output: logits ``[B, V, M]`` for every visit (padded visits hold unspecified values).
    """

    def __init__(self, config: GAMENetConfig, ehr_edge_index: Tensor, ddi_edge_index: Tensor):
        super().__init__()
        self.config = config
        d, m = config.emb_dim, config.num_meds
        self.diag_encoder = VisitEncoder(config.num_diag_codes, d, config.embedding_dropout)
        self.proc_encoder = VisitEncoder(config.num_proc_codes, d, config.embedding_dropout)
        self.query = nn.Sequential(nn.ReLU(), nn.Linear(4 * d, d))
        graph = {"dropout": config.gcn_dropout, "norm": config.graph_norm, "init": config.gcn_init}
        self.ehr_gcn = GraphEncoder(m, d, ehr_edge_index, **graph)  # type: ignore[arg-type]
        self.ddi_gcn = GraphEncoder(m, d, ddi_edge_index, **graph)  # type: ignore[arg-type]
        self.beta = nn.Parameter(torch.empty(1))
        self.output = nn.Sequential(
            nn.ReLU(), nn.Linear(3 * d, 2 * d), nn.ReLU(), nn.Linear(2 * d, m)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every parameter; beta uniform(-0.1, 0.1) as in the official code."""
        self.diag_encoder.reset_parameters()
        self.proc_encoder.reset_parameters()
        self.ehr_gcn.reset_parameters()
        self.ddi_gcn.reset_parameters()
        for layer in (*self.query, *self.output):
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        nn.init.uniform_(self.beta, -_INIT_RANGE, _INIT_RANGE)

    def memory_bank(self) -> Tensor:
        """Return the graph memory bank ``[M, D]``; it depends on no patient input."""
        ehr: Tensor = self.ehr_gcn()  # [M, D]
        if not self.config.use_ddi_memory:
            return ehr
        ddi: Tensor = self.ddi_gcn()  # [M, D]
        return ehr - self.beta * ddi

    def forward(
        self,
        diag_ids: Tensor,
        diag_mask: Tensor,
        proc_ids: Tensor,
        proc_mask: Tensor,
        med_history: Tensor,
        visit_mask: Tensor,
    ) -> Tensor:
        """Return logits ``[B, V, M]`` for every visit; the memory bank is computed once."""
        return self.read(
            self.memory_bank(), diag_ids, diag_mask, proc_ids, proc_mask, med_history, visit_mask
        )

    def read(
        self,
        memory: Tensor,
        diag_ids: Tensor,
        diag_mask: Tensor,
        proc_ids: Tensor,
        proc_mask: Tensor,
        med_history: Tensor,
        visit_mask: Tensor,
    ) -> Tensor:
        """Like :meth:`forward`, with a given memory bank ``[M, D]`` (export embeds it)."""
        h = torch.cat(
            [self.diag_encoder(diag_ids, diag_mask), self.proc_encoder(proc_ids, proc_mask)], -1
        )  # [B, V, 4D]
        query = self.query(h)  # [B, V, D]
        fact1 = torch.softmax(query @ memory.t(), dim=-1) @ memory  # [B, V, D]
        fact2 = self._read_dynamic_memory(query, fact1, memory, med_history, visit_mask)
        logits: Tensor = self.output(torch.cat([query, fact1, fact2], -1))  # [B, V, M]
        return logits

    @staticmethod
    def _read_dynamic_memory(
        query: Tensor, fact1: Tensor, memory: Tensor, med_history: Tensor, visit_mask: Tensor
    ) -> Tensor:
        """Attend from each visit to the earlier visits' queries and read their meds."""
        v = query.size(1)
        scores = query @ query.transpose(1, 2)  # [B, V(t), V(s)]
        earlier = torch.ones(v, v, dtype=torch.bool, device=query.device).tril(-1)  # s < t
        allowed = earlier.unsqueeze(0) & (visit_mask.unsqueeze(1) > 0)  # [B, V, V]
        # A finite fill keeps the first visit's all-masked row NaN-free (it is replaced below);
        # exp(min - max) is exactly 0, so padded visits never change a real visit's output.
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)  # [B, V, V]
        fact2 = (weights @ med_history) @ memory  # [B, V, M] @ [M, D] -> [B, V, D]
        has_history = allowed.any(-1, keepdim=True)  # [B, V, 1]
        return torch.where(has_history, fact2, fact1)
