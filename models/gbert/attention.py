r"""Decoupled-head attention (DHA) and the linear heads fusion that produces it from MHA.

Dimension letters: B batch (visits), C codes per visit (+[CLS]), D hidden, H query heads, d head
size, G key or value bank heads.

DHA: Chen et al., "DHA: Learning Decoupled-Head Attention from Transformer Checkpoints via
Adaptive Heads Fusion", 2024, https://arxiv.org/abs/2406.06567.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize


def _check_map(name: str, head_map: Sequence[int], heads: int) -> int:
    """Return the bank size of ``head_map``; it must be onto ``0..G-1`` with one entry per head."""
    if len(head_map) != heads:
        raise ValueError(f"DecoupledHeadAttention: {name} needs {heads} entries")
    banks = max(head_map) + 1
    if min(head_map) < 0 or set(head_map) != set(range(banks)):
        raise ValueError(f"DecoupledHeadAttention: {name} must use every bank head 0..G-1")
    return banks


class DecoupledHeadAttention(nn.Module):
    r"""Multi-head self-attention whose query heads share key and value heads through index maps.

    Query head :math:`h` reads key head :math:`d_K(h)` and value head :math:`d_V(h)`:

    .. math::
        \mathrm{head}_h = \mathrm{softmax}\!\Big(\frac{X W_Q^h (X W_K^{d_K(h)})^\top}{\sqrt d}
            + M\Big)\, X W_V^{d_V(h)}, \qquad
        o = [\mathrm{head}_1, \dots, \mathrm{head}_H]\, W_O

    The maps are constant buffers used through ``index_select`` on the head axis, which exports
    to ONNX as a plain Gather. MHA is identity maps; GQA is equal contiguous groups.

    Args:
        hidden (int): D.
        heads (int): H, query heads.
        head_dim (int): d.
        key_map (Sequence[int]): d_K, length H, onto ``0..G_K-1``.
        value_map (Sequence[int]): d_V, length H, onto ``0..G_V-1``.
        dropout (float): dropout on attention probabilities. (default: ``0.0``)

    Shapes:
        - input: ``x`` [B, C, D], additive mask ``bias`` [B, 1, 1, C] (0 or a large negative)
        - output: [B, C, D]
    """

    key_map: Tensor
    value_map: Tensor

    def __init__(
        self,
        hidden: int,
        heads: int,
        head_dim: int,
        key_map: Sequence[int],
        value_map: Sequence[int],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.key_heads = _check_map("key_map", key_map, heads)
        self.value_heads = _check_map("value_map", value_map, heads)
        # G-BERT's Q, K, V projections have no bias; the output projection has one.
        self.q_proj = nn.Linear(hidden, heads * head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.key_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.value_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(heads * head_dim, hidden)
        self.register_buffer("key_map", torch.tensor(list(key_map), dtype=torch.long))
        self.register_buffer("value_map", torch.tensor(list(value_map), dtype=torch.long))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like G-BERT's ``init_bert_weights``: N(0, 0.02) weights, zero bias."""
        for lin in (self.q_proj, self.k_proj, self.v_proj, self.o_proj):
            nn.init.normal_(lin.weight, std=0.02)
        nn.init.zeros_(self.o_proj.bias)

    def _split(self, y: Tensor, banks: int) -> Tensor:
        b, c, _ = y.shape
        return y.view(b, c, banks, self.head_dim).transpose(1, 2)  # [B, G, C, d]

    def forward(self, x: Tensor, bias: Tensor, queries: Tensor | None = None) -> Tensor:
        """Attend over the codes of each visit; ``bias`` masks padding keys.

        ``queries`` [B, Q, D] (default: ``x``) restricts the output to those positions; the
        encoder passes the [CLS] row alone in its last layer when only [CLS] is read.
        """
        queries = x if queries is None else queries
        b, c, _ = queries.shape
        q = self._split(self.q_proj(queries), self.heads)  # [B, H, Q, d]
        k = self._split(self.k_proj(x), self.key_heads).index_select(1, self.key_map)  # [B,H,C,d]
        v = self._split(self.v_proj(x), self.value_heads).index_select(1, self.value_map)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim) + bias  # [B, H, Q, C]
        p = self.dropout(F.softmax(scores, dim=-1))
        out = (p @ v).transpose(1, 2).reshape(b, c, self.heads * self.head_dim)  # [B, Q, H·d]
        return self.o_proj(out)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(heads={self.heads}, key_heads={self.key_heads}, "
            f"value_heads={self.value_heads}, head_dim={self.head_dim})"
        )


def group_mask(groups: Sequence[Sequence[int]], heads: int) -> Tensor:
    """Return the ``[H, H]`` 0/1 matrix with 1 where two heads share a group."""
    mask = torch.zeros(heads, heads)
    for g in groups:
        for h in g:
            mask[h, list(g)] = 1.0
    return mask


class HeadFusion(nn.Module):
    r"""Linear heads fusion, a parametrization of a K or V projection weight (DHA, section 3).

    .. math::
        \tilde W^h = \sum_{j \in g(h)} \omega_{hj} W^j

    with :math:`\omega` initialised to the identity, so the fused model starts equal to the
    checkpoint. Register it with ``torch.nn.utils.parametrize.register_parametrization``.

    Args:
        groups (Sequence[Sequence[int]]): a partition of the H heads.
        heads (int): H.
        head_dim (int): d.

    Shapes:
        - input: weight [H·d, D]
        - output: fused weight [H·d, D]
    """

    mask: Tensor

    def __init__(self, groups: Sequence[Sequence[int]], heads: int, head_dim: int) -> None:
        super().__init__()
        self.groups = tuple(tuple(g) for g in groups)
        self.heads, self.head_dim = heads, head_dim
        self.register_buffer("mask", group_mask(self.groups, heads))
        self.omega = nn.Parameter(torch.eye(heads))

    def forward(self, weight: Tensor) -> Tensor:
        """Return the fused weight."""
        w = weight.view(self.heads, self.head_dim, -1)  # [H, d, D]
        fused = torch.einsum("hj,jdk->hdk", self.omega * self.mask, w)  # [H, d, D]
        return fused.reshape(self.heads * self.head_dim, -1)

    def loss(self) -> Tensor:
        r""":math:`L_{fuse} = \sum_g \sum_{h \in g} \lVert \omega_h - \bar\omega_g \rVert^2`."""
        omega = self.omega * self.mask
        total = omega.new_zeros(())
        for g in self.groups:
            rows = omega[list(g)]  # [|g|, H]
            total = total + (rows - rows.mean(0, keepdim=True)).pow(2).sum()
        return total

    @torch.no_grad()
    def project(self) -> None:
        """Set every row of ω to its group mean, so L_fuse = 0 exactly."""
        for g in self.groups:
            self.omega[list(g)] = self.omega[list(g)].mean(0, keepdim=True)


def add_fusion(
    attn: DecoupledHeadAttention,
    key_groups: Sequence[Sequence[int]],
    value_groups: Sequence[Sequence[int]],
) -> None:
    """Parametrize ``attn``'s K and V weights with :class:`HeadFusion` (MHA layers only).

    Raises:
        ValueError: if ``attn`` already shares heads.
    """
    if attn.key_heads != attn.heads or attn.value_heads != attn.heads:
        raise ValueError("add_fusion: the layer must be plain MHA (identity maps)")
    for proj, groups in ((attn.k_proj, key_groups), (attn.v_proj, value_groups)):
        fusion = HeadFusion(groups, attn.heads, attn.head_dim).to(proj.weight.device)
        parametrize.register_parametrization(proj, "weight", fusion)


def _fusion_of(proj: nn.Module) -> HeadFusion | None:
    """Return the :class:`HeadFusion` parametrizing ``proj.weight``, if any."""
    if not parametrize.is_parametrized(proj, "weight"):
        return None
    fusion = getattr(proj, "parametrizations").weight[0]  # noqa: B009 (added at runtime)
    assert isinstance(fusion, HeadFusion)
    return fusion


def fusions(attn: DecoupledHeadAttention) -> list[HeadFusion]:
    """Return the K and V :class:`HeadFusion` modules of a fused layer (empty if none)."""
    found = (_fusion_of(attn.k_proj), _fusion_of(attn.v_proj))
    return [f for f in found if f is not None]


@torch.no_grad()
def collapse(
    attn: DecoupledHeadAttention,
    key_groups: Sequence[Sequence[int]] | None = None,
    value_groups: Sequence[Sequence[int]] | None = None,
) -> None:
    """Collapse each group to one bank head, in place, and set the index maps.

    The group's head weight is the mean of its members' (fused) weights. When the fusion
    weights of a group are equal (L_fuse = 0, see :meth:`HeadFusion.project`) this changes
    nothing; without fusion it is GQA's mean-pooling initialisation. Groups default to those of
    the layer's :class:`HeadFusion`.
    """
    for name, groups in (("k", key_groups), ("v", value_groups)):
        proj: nn.Linear = getattr(attn, f"{name}_proj")
        fusion = _fusion_of(proj)
        if fusion is not None:
            groups = groups or fusion.groups
            parametrize.remove_parametrizations(proj, "weight", leave_parametrized=True)
        if groups is None:
            raise ValueError("collapse: groups are required for a layer without fusion")
        w = proj.weight.view(attn.heads, attn.head_dim, -1)  # [H, d, D]
        bank = torch.stack([w[list(g)].mean(0) for g in groups])  # [G, d, D]
        new = nn.Linear(bank.shape[2], len(groups) * attn.head_dim, bias=False)
        new.weight.copy_(bank.reshape(-1, bank.shape[2]))
        setattr(attn, f"{name}_proj", new.to(proj.weight.device))
        head_map = torch.empty(attn.heads, dtype=torch.long, device=proj.weight.device)
        for i, g in enumerate(groups):
            head_map[list(g)] = i
        setattr(attn, "key_map" if name == "k" else "value_map", head_map)
        setattr(attn, "key_heads" if name == "k" else "value_heads", len(groups))
