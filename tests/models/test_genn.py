import dataclasses

import pytest
import torch
from torch import nn
from torch_geometric.nn import NNConv

from models.genn import (
    EdgeConditionedConv,
    EdgeDecoder,
    GENNConfig,
    GENNEncoder,
    GENNEnergy,
    GENNInference,
    PairMLP,
)

N, F, T, D = 6, 4, 3, 8


def _graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, F, generator=g)
    pairs = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 5]])
    edge_index = torch.cat([pairs.T, pairs.flip(1).T], dim=1)  # [2, 12]
    edge_attr = (torch.rand(len(pairs), T, generator=g) > 0.5).float().repeat(2, 1)
    return x, edge_index, edge_attr, pairs


def _config() -> GENNConfig:
    return GENNConfig(num_features=F, num_types=T, hidden=D)


def test_inference_shapes_and_finite_grads() -> None:
    torch.manual_seed(0)
    x, ei, ea, pairs = _graph()
    model = GENNInference(_config())
    h = model.encode(x, ei, ea)
    assert h.shape == (N, D)
    logits = model(x, ei, ea, pairs)
    assert logits.shape == (len(pairs), T)
    assert model.phi(h, pairs).shape == (len(pairs), T)
    logits.sum().backward()
    grads = [p.grad for p in model.encoder.parameters()] + [p.grad for p in model.psi.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_energy_is_scalar_and_differentiable_in_labels() -> None:
    torch.manual_seed(0)
    x, ei, ea, _ = _graph()
    energy = GENNEnergy(dataclasses.replace(_config(), nonnegative_energy=False))
    labels = ea.clone().requires_grad_(True)
    e = energy(x, ei, labels)
    assert e.shape == ()
    e.backward()
    assert labels.grad is not None and torch.isfinite(labels.grad).all()
    assert GENNEnergy(_config())(x, ei, ea) >= 0  # official ReLU on the energy


def test_pair_mlp_shapes() -> None:
    x, _, _, pairs = _graph()
    assert PairMLP(_config())(x, pairs).shape == (len(pairs), T)


def test_seeded_determinism() -> None:
    x, ei, ea, pairs = _graph()
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = GENNInference(_config()).eval()
        outs.append(model(x, ei, ea, pairs))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_reset_parameters_changes_weights() -> None:
    torch.manual_seed(0)
    enc = GENNEncoder(_config())
    before = enc.conv1.nn[0].weight.clone()
    enc.reset_parameters()
    assert not torch.equal(before, enc.conv1.nn[0].weight)


def test_repr() -> None:
    assert repr(EdgeDecoder(D, D, T)) == f"EdgeDecoder({2 * D}, {D}, {T})"
    assert "EdgeConditionedConv(4, 8, aggr=mean" in repr(GENNEncoder(_config()))


def _edge_nn(d_in: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(T, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, d_in * d_out))


def test_edge_conditioned_conv_equals_nnconv() -> None:
    torch.manual_seed(0)
    conv = EdgeConditionedConv(F, D, _edge_nn(F, D))
    ref = NNConv(F, D, _edge_nn(F, D), aggr="mean")
    ref.load_state_dict(conv.state_dict())  # same parameters, same names
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, F, generator=g, requires_grad=True)
    edge_index = torch.randint(0, 7, (2, 40), generator=g)  # nodes 7, 8: no edges; repeats
    edge_attr = torch.rand(40, T, generator=g)
    out, expected = conv(x, edge_index, edge_attr), ref(x, edge_index, edge_attr)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    weights = torch.randn(9, D, generator=g)
    grads = torch.autograd.grad((out * weights).sum(), [x, *conv.parameters()])
    ref_grads = torch.autograd.grad((expected * weights).sum(), [x, *ref.parameters()])
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    empty = conv.eval()(x, edge_index[:, :0], edge_attr[:0])
    torch.testing.assert_close(empty, ref.eval()(x, edge_index[:, :0], edge_attr[:0]))


def test_edge_conditioned_conv_needs_a_final_linear() -> None:
    with pytest.raises(ValueError, match="must end in Linear"):
        EdgeConditionedConv(F, D, nn.Sequential(nn.Linear(T, F * D), nn.ReLU()))


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="GENNConfig: num_types"):
        GENNConfig(num_types=0)
