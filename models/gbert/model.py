r"""G-BERT: ontology embeddings + a BERT encoder over the codes of one visit.

Shang et al., "Pre-training of Graph Augmented Transformers for Medication Recommendation",
IJCAI 2019, https://arxiv.org/abs/1906.00346 (official code: github.com/jshang123/G-Bert).

Dimension letters: B batch, V visits, C codes per visit (+[CLS]), D hidden, M medications,
K vocabulary size of one code kind, N graph nodes, E edges.

Token ids of one encoder input: 0 ``[PAD]``, 1 ``[CLS]``, 2 ``[MASK]``, ``3 + i`` vocabulary
token i. A visit is a set, so there are no positional embeddings.

With ``GBertConfig.use_procedures`` the diagnosis side of a visit also holds its procedure codes
(one [CLS] over both): procedure j is token ``3 + Kd + j`` of the diagnosis-side table
``[special; diagnoses; procedures]``, embedded by its own ontology GAT over the ICD procedure
hierarchy, and tagged with a third token type (0 diagnosis, 1 medication, 2 procedure) so the
encoder can tell the two code kinds apart. Procedures are context only: the masked-code and set
heads predict diagnoses and medications, so their sizes do not change.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv

from models.gbert.adapters import wrap_linear
from models.gbert.attention import DecoupledHeadAttention
from models.gbert.config import AdapterConfig, GBertConfig

PAD, CLS, MASK, SPECIAL = 0, 1, 2, 3
PROCEDURE_TYPE = 2  # token type of procedure codes (0 diagnosis, 1 medication)
_NEG = -1e9  # additive mask for hidden keys, as G-BERT's masked_fill


class CodeGraph(NamedTuple):
    """A code hierarchy: ``leaf_index`` [K], ``up_edges`` / ``down_edges`` [2, E] (int64)."""

    num_nodes: int
    leaf_index: Tensor
    up_edges: Tensor
    down_edges: Tensor


class OntologyEmbedding(nn.Module):
    r"""Code embeddings from a two-stage GAT over the code hierarchy (G-BERT, section 3.1).

    .. math::
        H^{(1)} = \mathrm{GAT}(E, \mathcal{E}_{child \to parent}), \qquad
        H^{(2)} = \mathrm{GAT}(H^{(1)}, \mathcal{E}_{ancestor \to leaf})

    One GATConv (heads concatenated) is shared by both stages, as in the official code; the
    output is :math:`H^{(2)}` at the leaves, in vocabulary order.

    Args:
        graph (CodeGraph): the hierarchy.
        hidden (int): D, the node embedding size.
        heads (int): GAT heads; each has ``hidden // heads`` channels.

    Shapes:
        - output: [K, D]
    """

    def __init__(self, graph: CodeGraph, hidden: int, heads: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(graph.num_nodes, hidden))
        self.gat = GATConv(hidden, hidden // heads, heads=heads)
        self.register_buffer("leaf_index", graph.leaf_index.clone())
        self.register_buffer("up_edges", graph.up_edges.clone())
        self.register_buffer("down_edges", graph.down_edges.clone())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot node embeddings (as the official code) and GATConv's own init."""
        nn.init.xavier_uniform_(self.embedding)
        self.gat.reset_parameters()

    def forward(self) -> Tensor:
        """Return the leaf embeddings."""
        h = self.gat(self.embedding, self.up_edges)  # [N, D]
        h = self.gat(h, self.down_edges)  # [N, D]
        return h.index_select(0, self.leaf_index)  # type: ignore[no-any-return]


class FeedForward(nn.Module):
    """G-BERT's position-wise FFN: ``w2(dropout(gelu(w1 x)))`` with tanh-approximated GELU."""

    def __init__(self, config: GBertConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(config.hidden, config.intermediate)
        self.w2 = nn.Linear(config.intermediate, config.hidden)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Return the FFN output."""
        return self.w2(self.dropout(F.gelu(self.w1(x), approximate="tanh")))  # type: ignore[no-any-return]


class Block(nn.Module):
    """A pre-LayerNorm transformer block, as G-BERT's ``TransformerBlock``."""

    def __init__(self, config: GBertConfig, layer: int) -> None:
        super().__init__()
        key_map, value_map = config.layer_maps(layer)
        self.ln1 = nn.LayerNorm(config.hidden, eps=1e-12)
        self.attn = DecoupledHeadAttention(
            config.hidden,
            config.heads,
            config.head_dim,
            key_map,
            value_map,
            config.attention_dropout,
        )
        self.ln2 = nn.LayerNorm(config.hidden, eps=1e-12)
        self.ffn = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, bias: Tensor, cls_only: bool = False) -> Tensor:
        """Return the block output for ``x`` [B, C, D] and key mask ``bias`` [B, 1, 1, C].

        With ``cls_only`` only position 0 is computed (keys and values still see every code):
        [B, 1, D], exactly the [CLS] row of the full output.
        """
        h = self.ln1(x)
        if cls_only:
            x = x[:, :1]  # [B, 1, D]
            x = x + self.dropout(self.attn(h, bias, h[:, :1]))
        else:
            x = x + self.dropout(self.attn(h, bias))
        x = x + self.dropout(self.ffn(self.ln2(x)))
        return self.dropout(x)  # type: ignore[no-any-return]


class GBertEncoder(nn.Module):
    r"""Ontology embeddings + BERT encoder shared by diagnosis and medication sets.

    .. math::
        h^{(0)}_c = \mathrm{Dropout}(e_c + t_{type(c)}), \qquad
        h^{(l)} = \mathrm{Block}_l(h^{(l-1)}), \qquad \mathrm{cls} = h^{(L)}_0

    where :math:`type(c)` is the set's kind (0 diagnoses, 1 medications), or 2 for a procedure
    token of a diagnosis-side set when ``config.use_procedures``.

    Args:
        config (GBertConfig): sizes, head maps and adapters.
        dx_graph (CodeGraph): diagnosis hierarchy.
        rx_graph (CodeGraph): medication hierarchy.
        px_graph (CodeGraph, optional): procedure hierarchy; required with
            ``config.use_procedures``, ignored without.

    Shapes:
        - input: ``tokens`` [B, C] (position 0 is [CLS]), ``table`` [SPECIAL + K, D] (K = Kd + Kp
          on the diagnosis side with procedures)
        - output: [B, C, D]
    """

    def __init__(
        self,
        config: GBertConfig,
        dx_graph: CodeGraph,
        rx_graph: CodeGraph,
        px_graph: CodeGraph | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.dx_onto = OntologyEmbedding(dx_graph, config.hidden, config.graph_heads)
        self.rx_onto = OntologyEmbedding(rx_graph, config.hidden, config.graph_heads)
        self.px_onto: OntologyEmbedding | None = None
        if config.use_procedures:
            if px_graph is None:
                raise ValueError("GBertEncoder: use_procedures needs px_graph")
            self.px_onto = OntologyEmbedding(px_graph, config.hidden, config.graph_heads)
        self.special = nn.Parameter(torch.empty(SPECIAL, config.hidden))
        self.type_embedding = nn.Embedding(3 if config.use_procedures else 2, config.hidden)
        self.dropout = nn.Dropout(config.embedding_dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.layers))
        self.reset_parameters()
        if config.adapter is not None:
            self._wrap(config.adapter)

    def reset_parameters(self) -> None:
        """G-BERT init: glorot special tokens, N(0, 0.02) linear/embedding weights, zero bias."""
        nn.init.xavier_uniform_(self.special)
        nn.init.normal_(self.type_embedding.weight, std=0.02)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()

    def _wrap(self, adapter: AdapterConfig) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        for block in self.blocks:
            for parent, names in (
                (block.attn, ("q_proj", "k_proj", "v_proj", "o_proj")),
                (block.ffn, ("w1", "w2")),
            ):
                for name in names:
                    setattr(parent, name, wrap_linear(getattr(parent, name), adapter))

    def add_adapters(self, adapter: AdapterConfig) -> None:
        """Freeze everything, then wrap Q, K, V, O and the FFN of every block in ``adapter``."""
        from dataclasses import replace

        self._wrap(adapter)
        self.config = replace(self.config, adapter=adapter)

    def attention_layers(self) -> list[DecoupledHeadAttention]:
        """Return the attention module of every block, first layer first."""
        return [block.attn for block in self.blocks]  # type: ignore[misc]

    def tables(self) -> tuple[Tensor, Tensor]:
        """Return the diagnosis-side and medication token tables ``[SPECIAL + K, D]``.

        The diagnosis side is ``[special; diagnoses]``, then the procedures with
        ``use_procedures``.
        """
        dx = [self.special, self.dx_onto()]
        if self.px_onto is not None:
            dx.append(self.px_onto())
        return torch.cat(dx), torch.cat([self.special, self.rx_onto()])

    def token_types(self, tokens: Tensor, kind: int) -> Tensor:
        """Return the ``[B, C, D]`` type embeddings of ``tokens`` of a set of ``kind``."""
        if kind == 0 and self.config.use_procedures:
            is_proc = tokens >= SPECIAL + self.config.num_diag_codes  # [B, C]
            return self.type_embedding(is_proc.long() * PROCEDURE_TYPE)  # type: ignore[no-any-return]
        return self.type_embedding.weight[kind]

    def forward(self, tokens: Tensor, table: Tensor, kind: int, cls_only: bool = False) -> Tensor:
        """Encode token sets; ``kind`` is 0 for the diagnosis side and 1 for medications.

        With ``cls_only`` the last layer computes the [CLS] position alone: [B, 1, D].
        """
        x = table.index_select(0, tokens.reshape(-1)).view(*tokens.shape, -1)  # [B, C, D]
        x = self.dropout(x + self.token_types(tokens, kind))
        hidden = tokens == PAD  # [B, C]
        if self.config.mask_cls_key:
            has_code = (tokens > CLS).any(-1, keepdim=True)  # [B, 1]: a code or [MASK]
            hidden = hidden | ((tokens == CLS) & has_code)
        bias = hidden.to(x.dtype)[:, None, None, :] * _NEG  # [B, 1, 1, C]
        for i, block in enumerate(self.blocks):
            x = block(x, bias, cls_only and i == len(self.blocks) - 1)
        return x  # type: ignore[no-any-return]


def _cls_head(hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))


class GBertPretrain(nn.Module):
    r"""G-BERT pre-training: masked-code prediction plus four set-prediction heads from [CLS].

    .. math::
        \hat y_{dx \to dx} = f_1(\mathrm{cls}_{dx}),\ \hat y_{rx \to dx} = f_2(\mathrm{cls}_{rx}),\
        \hat y_{dx \to rx} = f_3(\mathrm{cls}_{dx}),\ \hat y_{rx \to rx} = f_4(\mathrm{cls}_{rx})

    Args:
        config (GBertConfig): sizes.
        dx_graph (CodeGraph): diagnosis hierarchy.
        rx_graph (CodeGraph): medication hierarchy.
        px_graph (CodeGraph, optional): procedure hierarchy (with ``config.use_procedures``).

    Shapes:
        - input: ``dx_tokens`` [B, Cd] (the diagnosis side, procedures included), ``rx_tokens``
          [B, Cr]
        - output: encoder outputs [B, Cd, D] and [B, Cr, D] (apply ``dx_mlm`` / ``rx_mlm`` to the
          masked positions only: decoding every position costs more than the encoder); the four
          set logits [B, Kd] or [B, M] in the order dx→dx, rx→dx, dx→rx, rx→rx
    """

    def __init__(
        self,
        config: GBertConfig,
        dx_graph: CodeGraph,
        rx_graph: CodeGraph,
        px_graph: CodeGraph | None = None,
    ) -> None:
        super().__init__()
        d, kd, m = config.hidden, config.num_diag_codes, config.num_meds
        self.encoder = GBertEncoder(config, dx_graph, rx_graph, px_graph)
        self.dx_mlm = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, kd))
        self.rx_mlm = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, m))
        self.heads = nn.ModuleList(
            [_cls_head(d, kd), _cls_head(d, kd), _cls_head(d, m), _cls_head(d, m)]
        )

    def forward(self, dx_tokens: Tensor, rx_tokens: Tensor) -> tuple[Tensor, ...]:
        """Return (dx outputs, rx outputs, dx→dx, rx→dx, dx→rx, rx→rx)."""
        dx_table, rx_table = self.encoder.tables()
        hd = self.encoder(dx_tokens, dx_table, 0)  # [B, Cd, D]
        hr = self.encoder(rx_tokens, rx_table, 1)  # [B, Cr, D]
        cd, cr = hd[:, 0], hr[:, 0]
        h = self.heads
        return hd, hr, h[0](cd), h[1](cr), h[2](cd), h[3](cr)


class GBertRecommender(nn.Module):
    r"""G-BERT fine-tuned for medication recommendation (G-BERT, section 3.4).

    For visit t, with :math:`\bar v` the mean over past visits :math:`\tau < t`:

    .. math::
        \hat y_t = \sigma\Big(\mathrm{MLP}\big[\overline{\phi_{dx}(\mathrm{cls}^{dx}_\tau)};
            \overline{\phi_{rx}(\mathrm{cls}^{rx}_\tau)}; \phi_{dx}(\mathrm{cls}^{dx}_t)\big]\Big)

    where :math:`\phi` is a Linear+ReLU mapping and the MLP is 3D → 2D → M. A first visit has no
    past: its means are zero vectors.

    Args:
        config (GBertConfig): sizes.
        dx_graph (CodeGraph): diagnosis hierarchy.
        rx_graph (CodeGraph): medication hierarchy.
        px_graph (CodeGraph, optional): procedure hierarchy (with ``config.use_procedures``).

    Shapes:
        - input: ``dx_tokens`` [B, V, Cd] (the diagnosis side, procedures included),
          ``rx_tokens`` [B, V, Cr], ``visit_mask`` [B, V]
        - output: logits [B, V, M] for every visit
    """

    def __init__(
        self,
        config: GBertConfig,
        dx_graph: CodeGraph,
        rx_graph: CodeGraph,
        px_graph: CodeGraph | None = None,
    ) -> None:
        super().__init__()
        d = config.hidden
        self.encoder = GBertEncoder(config, dx_graph, rx_graph, px_graph)
        self.dx_map = nn.Sequential(nn.Linear(d, d), nn.ReLU())
        self.rx_map = nn.Sequential(nn.Linear(d, d), nn.ReLU())
        self.head = nn.Sequential(
            nn.Linear(3 * d, 2 * d), nn.ReLU(), nn.Linear(2 * d, config.num_meds)
        )

    def visit_logits(self, dx_cls: Tensor, rx_cls: Tensor, visit_mask: Tensor) -> Tensor:
        """Return [B, V, M] logits from per-visit [CLS] vectors [B, V, D]."""
        mask = visit_mask.unsqueeze(-1)  # [B, V, 1]
        dx = self.dx_map(dx_cls)
        rx = self.rx_map(rx_cls) * mask
        past = (torch.cumsum(mask, 1) - mask).clamp(min=1.0)  # [B, V, 1] past visit counts
        dx_past = (torch.cumsum(dx * mask, 1) - dx * mask) / past  # [B, V, D]
        rx_past = (torch.cumsum(rx, 1) - rx) / past
        return self.head(torch.cat([dx_past, rx_past, dx], dim=-1))  # type: ignore[no-any-return]

    def encode_visits(self, tokens: Tensor, table: Tensor, kind: int) -> Tensor:
        """Return the [CLS] vector of every visit: tokens [B, V, C] → [B, V, D]."""
        b, v, c = tokens.shape
        cls: Tensor = self.encoder(tokens.reshape(b * v, c), table, kind, True)[:, 0]  # [B·V, D]
        return cls.view(b, v, -1)

    def forward(self, dx_tokens: Tensor, rx_tokens: Tensor, visit_mask: Tensor) -> Tensor:
        """Return logits for every visit."""
        dx_table, rx_table = self.encoder.tables()
        dx_cls = self.encode_visits(dx_tokens, dx_table, 0)
        rx_cls = self.encode_visits(rx_tokens, rx_table, 1)
        return self.visit_logits(dx_cls, rx_cls, visit_mask)
