r"""Low-rank adapters around frozen linear layers: LoRA and mixture-of-ranks (MoR).

Dimension letters: B batch, C codes per visit, N experts, r rank.

The exact MoR update computed here, per token x (:math:`u = A x \in \mathbb{R}^r`):

.. math::
    \Delta o = \frac{\alpha}{r} \sum_{i=1}^{N} G_i(x)\, \lambda^B_i \odot
        \big(B\, (\lambda^A_i \odot u)\big)

Because :math:`\lambda^B_i` depends on the expert, B cannot be applied once to the mixed vector;
instead the N scaled rank-r vectors :math:`z_i = G_i \lambda^A_i \odot u` are stacked into one
``[N, r]`` block, multiplied by :math:`B^\top` once as a batched matmul
(``[..., N, r] @ [r, d_out]``) and the N rows are reduced with the :math:`\lambda^B` scales.
Cost per token:
``r·d_in + N·r·d_out + N·d_out`` multiply-adds (+ the router's ``N·d_in``), i.e. one LoRA on the
A side and a rank ``N·r`` product on the B side; memory holds one shared A and B.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.gbert.config import AdapterConfig, Routing


class LoRALinear(nn.Module):
    r"""LoRA around a frozen linear layer (Hu et al., 2021, https://arxiv.org/abs/2106.09685).

    .. math::
        o = W x + \frac{\alpha}{r} B A x

    Args:
        base (nn.Linear): the frozen layer.
        rank (int): r.
        alpha (float): scale numerator.

    Shapes:
        - input: [..., d_in]
        - output: [..., d_out]
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base, self.scale = base, alpha / rank
        base.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.empty(base.out_features, rank))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform A and zero B, as in the LoRA paper, so training starts at W."""
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        nn.init.zeros_(self.lora_b)

    def forward(self, x: Tensor) -> Tensor:
        """Return the adapted projection of ``x``."""
        return self.base(x) + self.scale * F.linear(F.linear(x, self.lora_a), self.lora_b)  # type: ignore[no-any-return]

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """Return a plain linear layer equal to this one."""
        out = nn.Linear(self.base.in_features, self.base.out_features, self.base.bias is not None)
        out.weight.copy_(self.base.weight + self.scale * self.lora_b @ self.lora_a)
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out


class MoRLinear(nn.Module):
    r"""Mixture-of-ranks adapter around a frozen linear layer.

    .. math::
        D_i = \frac{\alpha}{r}\, \mathrm{diag}(\lambda^B_i)\, B\, \mathrm{diag}(\lambda^A_i)\, A,
        \qquad o = W x + \sum_{i=1}^{N} G_i(x)\, D_i x, \qquad G(x) = \mathrm{softmax}(R x)

    A (r × d_in) and B (d_out × r) are shared; each expert owns :math:`\lambda^A_i \in
    \mathbb{R}^r` and :math:`\lambda^B_i \in \mathbb{R}^{d_{out}}`. See the module docstring for
    the exact evaluation order.

    Args:
        base (nn.Linear): the frozen layer.
        rank (int): r.
        experts (int): N.
        alpha (float): scale numerator.
        routing (str): ``"token"`` routes every position; ``"visit"`` routes every position of a
            visit by its ``[CLS]`` (position 0) input; ``"constant"`` is a learned mixture that
            :meth:`merged` folds into W exactly.

    Shapes:
        - input: [B, C, d_in]
        - output: [B, C, d_out]
    """

    def __init__(
        self, base: nn.Linear, rank: int, experts: int, alpha: float, routing: Routing
    ) -> None:
        super().__init__()
        self.base, self.scale, self.routing = base, alpha / rank, routing
        base.requires_grad_(False)
        d_in, d_out = base.in_features, base.out_features
        self.lora_a = nn.Parameter(torch.empty(rank, d_in))
        self.lora_b = nn.Parameter(torch.empty(d_out, rank))
        self.lambda_a = nn.Parameter(torch.empty(experts, rank))
        self.lambda_b = nn.Parameter(torch.empty(experts, d_out))
        if routing == "constant":
            self.router_logits = nn.Parameter(torch.zeros(experts))
        else:
            self.router = nn.Linear(d_in, experts, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """LoRA init for A and B (B = 0, so training starts at W); λ's at 1 ± small noise."""
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        nn.init.zeros_(self.lora_b)
        # Experts must differ at init or the router gets no signal to separate them.
        nn.init.normal_(self.lambda_a, mean=1.0, std=0.1)
        nn.init.normal_(self.lambda_b, mean=1.0, std=0.1)
        if self.routing == "constant":
            nn.init.zeros_(self.router_logits)
        else:
            nn.init.normal_(self.router.weight, std=0.02)

    def gates(self, x: Tensor) -> Tensor:
        """Return G(x): ``[B, C, N]`` (``"token"``), ``[B, 1, N]`` (``"visit"``) or ``[N]``."""
        if self.routing == "constant":
            return F.softmax(self.router_logits, dim=-1)
        if self.routing == "visit":
            x = x[:, :1]  # [B, 1, d_in]: the [CLS] position routes its whole visit
        return F.softmax(self.router(x), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """Return the adapted projection of ``x``."""
        u = F.linear(x, self.lora_a)  # [B, C, r]
        z = self.gates(x).unsqueeze(-1) * self.lambda_a * u.unsqueeze(-2)  # [B, C, N, r]
        y = z @ self.lora_b.t()  # [B, C, N, d_out]
        return self.base(x) + self.scale * (y * self.lambda_b).sum(-2)  # type: ignore[no-any-return]

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """Return a plain linear layer equal to this one (constant routing only).

        Raises:
            ValueError: if routing depends on the input.
        """
        if self.routing != "constant":
            raise ValueError("MoRLinear.merged: only constant routing can be merged into W")
        g = F.softmax(self.router_logits, dim=-1)  # [N]
        # Σ_i g_i diag(λB_i) B diag(λA_i) A, as one [d_out, d_in] matrix.
        delta = torch.einsum(
            "i,io,or,ir,rk->ok", g, self.lambda_b, self.lora_b, self.lambda_a, self.lora_a
        )
        out = nn.Linear(self.base.in_features, self.base.out_features, self.base.bias is not None)
        out.weight.copy_(self.base.weight + self.scale * delta)
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out


def wrap_linear(base: nn.Linear, config: AdapterConfig) -> nn.Module:
    """Return ``base`` wrapped in the adapter ``config`` describes."""
    if config.kind == "lora":
        return LoRALinear(base, config.rank, config.alpha)
    return MoRLinear(base, config.rank, config.experts, config.alpha, config.routing)


def merge_adapters(module: nn.Module) -> int:
    """Replace every mergeable adapter under ``module`` by its merged linear layer, in place.

    Returns:
        How many adapters were merged (per-token or per-visit MoR stays as is).
    """
    count = 0
    for name, child in list(module.named_children()):
        mergeable = isinstance(child, LoRALinear) or (
            isinstance(child, MoRLinear) and child.routing == "constant"
        )
        if mergeable:
            setattr(module, name, child.merged())  # type: ignore[operator]
            count += 1
        else:
            count += merge_adapters(child)
    return count
