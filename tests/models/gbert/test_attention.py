import itertools

import pytest
import torch
from torch.nn.utils import parametrize

from models.gbert.attention import DecoupledHeadAttention, add_fusion, collapse, fusions


def _reference_mha(attn: DecoupledHeadAttention, x, bias, k_weight, v_weight):
    """Plain attention with explicit per-head K/V weights [H, d, D]."""
    b, c, _ = x.shape
    h, d = attn.heads, attn.head_dim
    q = attn.q_proj(x).view(b, c, h, d).transpose(1, 2)
    k = torch.einsum("bcD,hdD->bhcd", x, k_weight)
    v = torch.einsum("bcD,hdD->bhcd", x, v_weight)
    p = torch.softmax(q @ k.transpose(-1, -2) / d**0.5 + bias, -1)
    return attn.o_proj((p @ v).transpose(1, 2).reshape(b, c, h * d))


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, 16, generator=g)
    bias = torch.zeros(3, 1, 1, 5)
    bias[1, ..., 3:] = -1e9
    return x, bias


def test_identity_maps_equal_mha():
    torch.manual_seed(0)
    attn = DecoupledHeadAttention(16, 4, 4, [0, 1, 2, 3], [0, 1, 2, 3]).eval()
    x, bias = _inputs()
    kw = attn.k_proj.weight.view(4, 4, 16)
    vw = attn.v_proj.weight.view(4, 4, 16)
    torch.testing.assert_close(attn(x, bias), _reference_mha(attn, x, bias, kw, vw))


def test_gqa_is_contiguous_groups():
    torch.manual_seed(0)
    attn = DecoupledHeadAttention(16, 4, 4, [0, 0, 1, 1], [0, 0, 1, 1]).eval()
    assert attn.k_proj.weight.shape == (8, 16)
    x, bias = _inputs()
    kw = attn.k_proj.weight.view(2, 4, 16).repeat_interleave(2, 0)
    vw = attn.v_proj.weight.view(2, 4, 16).repeat_interleave(2, 0)
    torch.testing.assert_close(attn(x, bias), _reference_mha(attn, x, bias, kw, vw))


def test_decoupled_maps_differ_for_keys_and_values():
    attn = DecoupledHeadAttention(16, 4, 4, [0, 1, 0, 2], [0, 0, 0, 0])
    assert (attn.key_heads, attn.value_heads) == (3, 1)
    out = attn(*_inputs())
    assert out.shape == (3, 5, 16) and torch.isfinite(out).all()


@pytest.mark.parametrize("bad", [[0, 1, 2], [0, 2, 2, 2], [-1, 0, 1, 2]])
def test_bad_maps_raise(bad):
    with pytest.raises(ValueError, match="DecoupledHeadAttention"):
        DecoupledHeadAttention(16, 4, 4, bad, [0, 1, 2, 3])


def test_fusion_starts_equal_and_collapse_matches_fused():
    torch.manual_seed(0)
    attn = DecoupledHeadAttention(16, 4, 4, range(4), range(4)).eval()
    x, bias = _inputs()
    before = attn(x, bias)
    add_fusion(attn, [[0, 1], [2, 3]], [[0, 2, 3], [1]])
    torch.testing.assert_close(attn(x, bias), before)  # ω = I: no change
    k_fusion, v_fusion = fusions(attn)
    with torch.no_grad():
        for f in (k_fusion, v_fusion):
            f.omega.add_(0.3 * torch.randn(4, 4))
    assert k_fusion.loss() > 0
    for f in (k_fusion, v_fusion):
        f.project()
        assert f.loss() < 1e-12
    fused = attn(x, bias)
    collapse(attn)
    assert not parametrize.is_parametrized(attn.k_proj)
    assert attn.key_map.tolist() == [0, 0, 1, 1] and attn.value_map.tolist() == [0, 1, 0, 0]
    assert attn.k_proj.weight.shape == (8, 16) and attn.v_proj.weight.shape == (8, 16)
    torch.testing.assert_close(attn(x, bias), fused, atol=1e-6, rtol=1e-5)


def test_fusion_gradients_reach_omega_only_within_groups():
    attn = DecoupledHeadAttention(16, 4, 4, range(4), range(4))
    add_fusion(attn, [[0, 1], [2, 3]], [[0, 1, 2, 3]])
    attn(*_inputs()).sum().backward()
    k_fusion = fusions(attn)[0]
    grad = k_fusion.omega.grad
    assert grad is not None and torch.isfinite(grad).all()
    for i, j in itertools.product(range(4), range(4)):
        if (i < 2) != (j < 2):
            assert grad[i, j] == 0


def test_repr():
    assert "key_heads=2" in repr(DecoupledHeadAttention(16, 4, 4, [0, 0, 1, 1], range(4)))
