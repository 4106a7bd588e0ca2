import pytest
import torch

from models.gbert.config import GBertConfig
from models.gbert.model import GBertPretrain
from tests.models.gbert.conftest import chain_graph
from training.gbert import dha
from training.gbert.batches import pad_tokens


def _model(seed=0):
    torch.manual_seed(seed)
    cfg = GBertConfig(
        num_diag_codes=7, num_meds=5, hidden=16, heads=4, head_dim=4, intermediate=16, graph_heads=4
    )
    return GBertPretrain(cfg, chain_graph(7), chain_graph(5)).eval()


def _tokens():
    g = torch.Generator().manual_seed(1)
    dx = pad_tokens([tuple(torch.randint(0, 7, (n,), generator=g).tolist()) for n in (3, 5, 2)])
    rx = pad_tokens([tuple(torch.randint(0, 5, (n,), generator=g).tolist()) for n in (2, 1, 4)])
    return dx, rx


def test_set_partitions_of_four_heads():
    parts = list(dha.set_partitions([0, 1, 2, 3]))
    assert len(parts) == 15 and len(set(parts)) == 15
    assert sorted(len(p) for p in parts) == [1] + [2] * 7 + [3] * 6 + [4]


def test_allocate_gives_heads_where_merging_costs_most():
    costs = [{1: 9.0, 2: 1.0, 4: 0.0}, {1: 0.1, 2: 0.05, 4: 0.0}]
    assert dha._allocate(costs, 5) == [4, 1]
    assert dha._allocate(costs, 3) == [2, 1]


def test_search_meets_budget_and_mha_error_is_zero():
    model = _model()
    dx, rx = _tokens()
    inputs = dha.calibration_inputs(model.encoder, [(dx, 0), (rx, 1)])
    assert len(inputs) == 2 and len(inputs[0]) == 2
    choices = dha.search(model.encoder, inputs, 0.5)
    assert sum(len(c.groups) for c in choices) == 8
    singles = ((0,), (1,), (2,), (3,))
    assert dha.merged_error(model.encoder.blocks[0].attn, inputs[0], "k", singles) < 1e-12
    with pytest.raises(ValueError, match="budget"):
        dha.search(model.encoder, inputs, 0.1)


def test_fusion_then_collapse_keeps_the_fused_function():
    model = _model()
    dx, rx = _tokens()
    before = model(dx, rx)
    plan = [(((0, 1), (2, 3)), ((0, 1, 2), (3,))), (((0,), (1, 2, 3)), ((0, 1, 2, 3),))]
    dha.start_fusion(model.encoder, plan)
    for a, b in zip(model(dx, rx), before, strict=True):
        torch.testing.assert_close(a, b)  # ω = I
    assert float(dha.fusion_loss(model.encoder).detach()) > 0.0  # ω = I is not yet merged
    with torch.no_grad():
        for block in model.encoder.blocks:
            for f in dha.fusions(block.attn):
                f.omega.add_(0.2 * torch.randn_like(f.omega))
                f.project()
    fused = model(dx, rx)
    config = dha.finish(model.encoder)
    assert config.key_maps == ((0, 0, 1, 1), (0, 1, 1, 1))
    assert config.value_maps == ((0, 0, 0, 1), (0, 0, 0, 0))
    for a, b in zip(model(dx, rx), fused, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    rebuilt = GBertPretrain(config, chain_graph(7), chain_graph(5)).eval()
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt(dx, rx)[2], fused[2], atol=1e-5, rtol=1e-4)


def test_lagrangian_raises_multipliers():
    lag = dha.AugmentedLagrangian(eta=0.5)
    value = torch.tensor(2.0, requires_grad=True)
    assert float(lag.penalty(value).detach()) == 0.0
    lag.ascend()
    assert (lag.lam1, lag.lam2) == (1.0, 2.0)
    assert float(lag.penalty(value).detach()) == 2.0 + 8.0


def test_gqa_mean_pool_is_contiguous():
    model = _model()
    plan = [(dha.contiguous_groups(4, 2),) * 2] * 2
    config = dha.mean_pool(model.encoder, plan)
    assert config.key_maps == ((0, 0, 1, 1),) * 2
    w = model.encoder.blocks[0].attn.k_proj.weight
    assert w.shape == (8, 16)
