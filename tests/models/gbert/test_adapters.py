import pytest
import torch
from torch import nn

from models.gbert.adapters import LoRALinear, MoRLinear, merge_adapters


def _trained(module):
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    return module


def test_mor_matches_definition():
    torch.manual_seed(0)
    mor = _trained(MoRLinear(nn.Linear(6, 5), rank=3, experts=4, alpha=6.0, routing="token"))
    x = torch.randn(2, 3, 6)
    g = torch.softmax(mor.router(x), -1)  # [B, C, N]
    expected = mor.base(x)
    for i in range(4):
        d_i = torch.diag(mor.lambda_b[i]) @ mor.lora_b @ torch.diag(mor.lambda_a[i]) @ mor.lora_a
        expected = expected + g[..., i : i + 1] * mor.scale * (x @ d_i.t())
    torch.testing.assert_close(mor(x), expected)


def test_mor_visit_routing_uses_cls():
    torch.manual_seed(0)
    mor = _trained(MoRLinear(nn.Linear(6, 5), rank=3, experts=4, alpha=6.0, routing="visit"))
    x = torch.randn(2, 3, 6)
    assert mor.gates(x).shape == (2, 1, 4)
    y = x.clone()
    y[:, 1:] += 1.0
    torch.testing.assert_close(mor.gates(x), mor.gates(y))


def test_mor_constant_routing_merges_exactly():
    torch.manual_seed(0)
    mor = _trained(MoRLinear(nn.Linear(6, 5), rank=3, experts=4, alpha=6.0, routing="constant"))
    x = torch.randn(2, 3, 6)
    torch.testing.assert_close(mor.merged()(x), mor(x), atol=1e-6, rtol=1e-5)


def test_token_routing_refuses_merge():
    with pytest.raises(ValueError, match="constant"):
        MoRLinear(nn.Linear(6, 5), 3, 4, 6.0, "token").merged()


def test_lora_merge_and_merge_adapters():
    torch.manual_seed(0)
    parent = nn.Sequential(
        _trained(LoRALinear(nn.Linear(6, 5), 2, 4.0)),
        MoRLinear(nn.Linear(5, 5), 2, 2, 4.0, "token"),
    )
    x = torch.randn(4, 1, 6)
    before = parent(x)
    assert merge_adapters(parent) == 1
    assert isinstance(parent[0], nn.Linear) and isinstance(parent[1], MoRLinear)
    torch.testing.assert_close(parent(x), before, atol=1e-6, rtol=1e-5)


def test_adapters_start_at_base():
    base = nn.Linear(6, 5)
    x = torch.randn(2, 3, 6)
    for adapter in (LoRALinear(base, 2, 4.0), MoRLinear(base, 2, 3, 4.0, "token")):
        torch.testing.assert_close(adapter(x), base(x))
