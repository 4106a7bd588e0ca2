"""DHA conversion of a pre-trained MHA G-BERT: search → linear heads fusion → collapse.

Chen et al., "DHA: Learning Decoupled-Head Attention from Transformer Checkpoints via Adaptive
Heads Fusion", 2024, https://arxiv.org/abs/2406.06567.

1. Search: on calibration activations, for every layer and for K and V separately, each set
   partition of the H heads is scored by the relative output error of the attention layer when
   each group's heads are replaced by their mean (the merged head). A dynamic programme then
   picks one group count per (layer, K/V) slot, minimising the summed error under a global
   budget of ``round(budget · 2·H·L)`` KV heads: layers where merging costs more keep more heads.
2. Fusion: ``HeadFusion`` re-parametrises each K/V weight (ω = I, so nothing changes at first);
   training adds ``λ₁·L_fuse + λ₂·L_fuse²`` with the λ's raised by gradient ascent each step.
3. Collapse: ω is projected to its group means (L_fuse = 0) and each group becomes one head.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from models.gbert.attention import DecoupledHeadAttention, add_fusion, collapse, fusions
from models.gbert.config import GBertConfig
from models.gbert.model import GBertEncoder

logger = logging.getLogger(__name__)

Partition = tuple[tuple[int, ...], ...]


def set_partitions(items: Sequence[int]) -> Iterator[Partition]:
    """Yield every partition of ``items`` into non-empty groups (Bell(4) = 15 for 4 heads)."""
    if not items:
        yield ()
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        yield ((first,), *part)
        for i in range(len(part)):
            yield (*part[:i], (first, *part[i]), *part[i + 1 :])


@torch.no_grad()
def calibration_inputs(
    encoder: GBertEncoder, token_batches: Sequence[tuple[Tensor, int]]
) -> list[list[tuple[Tensor, Tensor]]]:
    """Return, per layer, the attention inputs ``(x, bias)`` seen on ``token_batches``.

    ``token_batches`` holds ``(tokens, kind)`` pairs (kind 0 = dx, 1 = rx).
    """
    captured: list[list[tuple[Tensor, Tensor]]] = [[] for _ in encoder.blocks]
    hooks = [
        attn.register_forward_pre_hook(lambda _m, args, i=i: captured[i].append(args))
        for i, attn in enumerate(encoder.attention_layers())
    ]
    encoder.eval()
    try:
        dx_table, rx_table = encoder.tables()
        for tokens, kind in token_batches:
            encoder(tokens, dx_table if kind == 0 else rx_table, kind)
    finally:
        for h in hooks:
            h.remove()
    return captured


@torch.no_grad()
def merged_error(
    attn: DecoupledHeadAttention,
    inputs: Sequence[tuple[Tensor, Tensor]],
    which: str,
    partition: Partition,
) -> float:
    """Return ‖o' − o‖² / ‖o‖² when ``which`` ("k" or "v") heads are merged by ``partition``."""
    trial = copy.deepcopy(attn).eval()
    singles = tuple((h,) for h in range(attn.heads))
    key_groups, value_groups = (partition, singles) if which == "k" else (singles, partition)
    collapse(trial, key_groups, value_groups)
    num = den = 0.0
    for x, bias in inputs:
        ref = attn(x, bias)
        num += float((trial(x, bias) - ref).pow(2).sum())
        den += float(ref.pow(2).sum())
    return num / max(den, 1e-12)


@dataclass(frozen=True)
class SlotChoice:
    """The grouping chosen for one (layer, K or V) slot and its calibration error."""

    layer: int
    which: str
    groups: Partition
    error: float


def search(
    encoder: GBertEncoder, inputs: Sequence[Sequence[tuple[Tensor, Tensor]]], budget: float
) -> list[SlotChoice]:
    """Score every grouping per slot and allocate KV heads under the global ``budget``.

    Raises:
        ValueError: if the budget leaves a slot without a head or exceeds MHA.
    """
    heads = encoder.config.heads
    slots = [(layer, which) for layer in range(len(encoder.blocks)) for which in ("k", "v")]
    total = round(budget * 2 * heads * len(encoder.blocks))
    if not len(slots) <= total <= len(slots) * heads:
        raise ValueError(
            f"search: a budget of {budget} gives {total} KV heads; need "
            f"{len(slots)}..{len(slots) * heads}"
        )
    best: list[dict[int, tuple[float, Partition]]] = []
    for layer, which in slots:
        attn = encoder.attention_layers()[layer]
        per_count: dict[int, tuple[float, Partition]] = {}
        for part in set_partitions(list(range(heads))):
            err = merged_error(attn, inputs[layer], which, part)
            if len(part) not in per_count or err < per_count[len(part)][0]:
                per_count[len(part)] = (err, part)
        best.append(per_count)
    counts = _allocate([{k: e for k, (e, _) in b.items()} for b in best], total)
    return [
        SlotChoice(layer, which, best[i][k][1], best[i][k][0])
        for i, ((layer, which), k) in enumerate(zip(slots, counts, strict=True))
    ]


def _allocate(costs: Sequence[dict[int, float]], total: int) -> list[int]:
    """Pick one head count per slot, summing to ``total``, with the least summed cost (DP)."""
    inf = float("inf")
    table: list[dict[int, tuple[float, list[int]]]] = [{0: (0.0, [])}]
    for cost in costs:
        row: dict[int, tuple[float, list[int]]] = {}
        for used, (c, picks) in table[-1].items():
            for k, e in cost.items():
                if used + k <= total and c + e < row.get(used + k, (inf, []))[0]:
                    row[used + k] = (c + e, [*picks, k])
        table.append(row)
    return table[-1][total][1]


def contiguous_groups(heads: int, groups: int) -> Partition:
    """Return GQA's equal contiguous groups, e.g. 4 heads in 2 groups: ((0, 1), (2, 3))."""
    if heads % groups:
        raise ValueError("contiguous_groups: heads must divide by groups")
    size = heads // groups
    return tuple(tuple(range(g * size, (g + 1) * size)) for g in range(groups))


def plan_by_layer(choices: Sequence[SlotChoice], layers: int) -> list[tuple[Partition, Partition]]:
    """Return (key groups, value groups) per layer."""
    found = {(c.layer, c.which): c.groups for c in choices}
    return [(found[(i, "k")], found[(i, "v")]) for i in range(layers)]


def start_fusion(encoder: GBertEncoder, plan: Sequence[tuple[Partition, Partition]]) -> None:
    """Add :class:`HeadFusion` to every layer's K and V weights (ω = I)."""
    for attn, (key_groups, value_groups) in zip(encoder.attention_layers(), plan, strict=True):
        add_fusion(attn, key_groups, value_groups)


def fusion_loss(encoder: GBertEncoder) -> Tensor:
    """Return L_fuse summed over every fused projection."""
    terms = [f.loss() for attn in encoder.attention_layers() for f in fusions(attn)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


class AugmentedLagrangian:
    """``λ₁·L + λ₂·L²`` with both λ's raised by gradient ascent (``λ += η·∂/∂λ``) each step."""

    def __init__(self, eta: float = 1.0) -> None:
        self.eta, self.lam1, self.lam2, self.last = eta, 0.0, 0.0, 0.0

    def penalty(self, value: Tensor) -> Tensor:
        """Return the penalty of ``value`` and remember it for :meth:`ascend`."""
        self.last = float(value.detach())
        return self.lam1 * value + self.lam2 * value.pow(2)

    def ascend(self) -> None:
        """Raise the multipliers by the gradient of the penalty with respect to them."""
        self.lam1 += self.eta * self.last
        self.lam2 += self.eta * self.last**2


def finish(encoder: GBertEncoder) -> GBertConfig:
    """Project ω to group means, collapse every layer and return the DHA config."""
    for attn in encoder.attention_layers():
        for f in fusions(attn):
            f.project()
        collapse(attn)
    return with_maps(encoder)


def mean_pool(encoder: GBertEncoder, plan: Sequence[tuple[Partition, Partition]]) -> GBertConfig:
    """Collapse every layer by plain mean-pooling (the GQA initialisation); returns the config."""
    for attn, (key_groups, value_groups) in zip(encoder.attention_layers(), plan, strict=True):
        collapse(attn, key_groups, value_groups)
    return with_maps(encoder)


def with_maps(encoder: GBertEncoder) -> GBertConfig:
    """Return the encoder's config with its layers' current head maps."""
    layers = encoder.attention_layers()
    keys = tuple(tuple(int(i) for i in a.key_map.tolist()) for a in layers)
    values = tuple(tuple(int(i) for i in a.value_map.tolist()) for a in layers)
    encoder.config = replace(encoder.config, key_maps=keys, value_maps=values)
    return encoder.config
