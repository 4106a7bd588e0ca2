from dataclasses import replace

import pytest
import torch

from models.gbert.config import AdapterConfig, GBertConfig
from models.gbert.model import CLS, PAD, GBertPretrain, GBertRecommender
from tests.models.gbert.conftest import chain_graph


def _tokens(b, c, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(3, 3 + k, (b, c), generator=g)
    t[:, 0] = CLS
    t[0, 2:] = PAD
    return t


def test_pretrain_shapes_and_finite_grads(tiny_config, graphs):
    torch.manual_seed(0)
    model = GBertPretrain(tiny_config, *graphs)
    out = model(_tokens(3, 4, 7), _tokens(3, 3, 5))
    shapes = [o.shape for o in out]
    assert shapes == [(3, 4, 16), (3, 3, 16), (3, 7), (3, 7), (3, 5), (3, 5)]
    assert model.dx_mlm(out[0]).shape == (3, 4, 7)
    (
        sum(o.sum() for o in out[2:]) + model.dx_mlm(out[0]).sum() + model.rx_mlm(out[1]).sum()
    ).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.encoder.dx_onto.embedding.grad.abs().sum() > 0


def test_padding_does_not_change_cls(tiny_config, graphs):
    model = GBertPretrain(tiny_config, *graphs).eval()
    short = _tokens(1, 3, 7)
    long = torch.cat([short, torch.zeros(1, 4, dtype=torch.long)], 1)
    table = model.encoder.tables()[0]
    a = model.encoder(short, table, 0)[:, 0]
    b = model.encoder(long, table, 0)[:, 0]
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_recommender_shapes_and_past_means(tiny_config, graphs):
    torch.manual_seed(0)
    model = GBertRecommender(tiny_config, *graphs).eval()
    dx = _tokens(6, 4, 7).view(2, 3, 4)
    rx = _tokens(6, 3, 5).view(2, 3, 3)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    out = model(dx, rx, mask)
    assert out.shape == (2, 3, 5)
    # visit 1 of patient 1 must not depend on its padded visit 2
    rx2 = rx.clone()
    rx2[1, 2] = CLS
    torch.testing.assert_close(model(dx, rx2, mask)[1, :2], out[1, :2])


def test_seeded_determinism(tiny_config, graphs):
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = GBertRecommender(tiny_config, *graphs).train()
        outs.append(
            model(_tokens(2, 4, 7).view(1, 2, 4), _tokens(2, 3, 5).view(1, 2, 3), torch.ones(1, 2))
        )
    torch.testing.assert_close(outs[0], outs[1])


@pytest.mark.parametrize("kind", ["lora", "mor"])
def test_adapters_freeze_base(tiny_config, graphs, kind):
    model = GBertRecommender(tiny_config, *graphs)
    model.encoder.add_adapters(AdapterConfig(kind=kind, rank=2, experts=3))
    trainable = {n for n, p in model.encoder.named_parameters() if p.requires_grad}
    assert trainable and all("lora" in n or "lambda" in n or "router" in n for n in trainable)
    assert model.encoder.config.adapter.kind == kind
    rebuilt = GBertRecommender(model.encoder.config, *graphs)
    rebuilt.load_state_dict(model.state_dict())


def test_config_json_roundtrip():
    cfg = GBertConfig(
        3,
        4,
        key_maps=((0, 0, 1, 1), (0, 1, 2, 3)),
        value_maps=((0, 0, 0, 0), (0, 1, 1, 1)),
        adapter=AdapterConfig(),
    )
    assert GBertConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="key_maps"):
        GBertConfig(3, 4, key_maps=((0, 1),))


def test_cls_only_equals_full_cls_row(tiny_config, graphs):
    model = GBertPretrain(tiny_config, *graphs).eval()
    model.encoder.add_adapters(AdapterConfig(kind="mor", rank=2, experts=2, routing="visit"))
    tokens = _tokens(3, 5, 7)
    table = model.encoder.tables()[0]
    full = model.encoder(tokens, table, 0)[:, :1]
    torch.testing.assert_close(model.encoder(tokens, table, 0, cls_only=True), full)


def _proc_config(tiny_config):
    return replace(tiny_config, use_procedures=True, num_proc_codes=4)


def test_procedure_tokens_change_the_logits(tiny_config, graphs):
    torch.manual_seed(0)
    model = GBertRecommender(_proc_config(tiny_config), *graphs, chain_graph(4)).eval()
    rx = _tokens(2, 3, 5).view(1, 2, 3)
    mask = torch.ones(1, 2)
    dx = torch.tensor([[[CLS, 3, 5, PAD], [CLS, 4, 6, PAD]]])
    with_px = dx.clone()
    with_px[0, 1, 3] = 3 + 7 + 2  # procedure 2 of the last visit, after the 7 diagnoses
    other_px = dx.clone()
    other_px[0, 1, 3] = 3 + 7 + 0
    base, a, b = model(dx, rx, mask), model(with_px, rx, mask), model(other_px, rx, mask)
    assert (a[0, 1] - base[0, 1]).abs().max() > 1e-6  # the procedure is read ...
    assert (a[0, 1] - b[0, 1]).abs().max() > 1e-6  # ... and which one matters
    torch.testing.assert_close(a[0, 0], base[0, 0])  # visit 0 has no procedure: unchanged


def test_procedures_have_their_own_token_type(tiny_config, graphs):
    model = GBertPretrain(_proc_config(tiny_config), *graphs, chain_graph(4)).eval()
    assert model.encoder.type_embedding.num_embeddings == 3
    assert model.encoder.px_onto is not None
    tokens = torch.tensor([[CLS, 3, 3 + 7 + 1, PAD]])
    types = model.encoder.token_types(tokens, 0)  # [1, 4, D]
    weight = model.encoder.type_embedding.weight
    torch.testing.assert_close(types[0, 1], weight[0])
    torch.testing.assert_close(types[0, 2], weight[2])
    # a medication set never reads the procedure type, whatever its ids
    torch.testing.assert_close(model.encoder.token_types(tokens, 1), weight[1])
    table = model.encoder.tables()[0]
    assert table.shape == (3 + 7 + 4, 16)
    # the masked-code and set heads keep the diagnosis and medication sizes
    out = model(tokens, _tokens(1, 3, 5))
    assert [o.shape[-1] for o in out[2:]] == [7, 7, 5, 5]
    assert model.dx_mlm(out[0]).shape[-1] == 7


def test_a_procedure_model_needs_its_graph(tiny_config, graphs):
    with pytest.raises(ValueError, match="px_graph"):
        GBertRecommender(_proc_config(tiny_config), *graphs)
    with pytest.raises(ValueError, match="num_proc_codes"):
        GBertConfig(3, 4, use_procedures=True)


def test_diagnosis_only_keeps_the_papers_parameters(tiny_config, graphs):
    torch.manual_seed(0)
    model = GBertRecommender(tiny_config, *graphs)
    names = set(model.state_dict())
    assert not any("px_onto" in n for n in names)
    assert model.encoder.type_embedding.num_embeddings == 2
    # a config written before the option loads as diagnosis-only
    old = {
        k: v
        for k, v in tiny_config.to_json().items()
        if k not in ("use_procedures", "num_proc_codes")
    }
    assert GBertConfig.from_json(old) == tiny_config and not tiny_config.use_procedures
    proc = GBertConfig.from_json(_proc_config(tiny_config).to_json())
    assert proc.use_procedures and proc.num_proc_codes == 4


def test_cls_key_is_hidden_from_a_set_with_codes_but_not_from_an_empty_one(tiny_config, graphs):
    torch.manual_seed(0)
    hidden = GBertPretrain(replace(tiny_config, mask_cls_key=True), *graphs).eval()
    seen = GBertPretrain(tiny_config, *graphs).eval()
    seen.load_state_dict(hidden.state_dict())
    tokens = _tokens(2, 4, 7)
    tokens[1, 1:] = PAD  # [CLS] alone: an empty set keeps its own key
    table = hidden.encoder.tables()[0]
    a = hidden.encoder(tokens, table, 0)[:, 0]
    b = seen.encoder(tokens, table, 0)[:, 0]
    assert (a[0] - b[0]).abs().max() > 1e-4  # with codes, [CLS] reads the codes only
    torch.testing.assert_close(a[1], b[1])


def test_a_config_written_before_mask_cls_key_loads_as_it_was_trained():
    config = GBertConfig(7, 5, hidden=16, head_dim=4, intermediate=8, mask_cls_key=True)
    old = {k: v for k, v in config.to_json().items() if k != "mask_cls_key"}
    assert GBertConfig.from_json(old).mask_cls_key is False
    assert GBertConfig.from_json(config.to_json()) == config
