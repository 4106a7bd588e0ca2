from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from models.gamenet import GAMENet, GAMENetConfig

M, ND, NP = 7, 11, 5


def _edges(pairs: list[tuple[int, int]]) -> torch.Tensor:
    both = pairs + [(j, i) for i, j in pairs]
    return torch.tensor(both, dtype=torch.long).t().contiguous()


def make_model(seed: int = 0, **overrides: object) -> GAMENet:
    torch.manual_seed(seed)
    config = GAMENetConfig(num_diag_codes=ND, num_proc_codes=NP, num_meds=M, emb_dim=8)
    config = dataclasses.replace(config, **overrides)  # type: ignore[arg-type]
    return GAMENet(config, _edges([(0, 1), (1, 2), (3, 4)]), _edges([(0, 2), (5, 6)]))


def make_patient(visits: int, gen: torch.Generator) -> list[tuple[list[int], list[int], list[int]]]:
    out = []
    for _ in range(visits):
        d = torch.randperm(ND, generator=gen)[: int(torch.randint(1, 5, (1,), generator=gen))]
        p = torch.randperm(NP, generator=gen)[: int(torch.randint(1, 3, (1,), generator=gen))]
        m = torch.randperm(M, generator=gen)[: int(torch.randint(1, 4, (1,), generator=gen))]
        out.append((d.tolist(), p.tolist(), m.tolist()))
    return out


def pad(patients: list[list[tuple[list[int], list[int], list[int]]]], extra_codes: int = 0):
    b = len(patients)
    v = max(len(p) for p in patients)
    cd = max(len(x[0]) for p in patients for x in p) + extra_codes
    cp = max(len(x[1]) for p in patients for x in p) + extra_codes
    dids, dmask = torch.zeros(b, v, cd, dtype=torch.long), torch.zeros(b, v, cd)
    pids, pmask = torch.zeros(b, v, cp, dtype=torch.long), torch.zeros(b, v, cp)
    meds, vmask = torch.zeros(b, v, M), torch.zeros(b, v)
    for i, p in enumerate(patients):
        for t, (d, pr, m) in enumerate(p):
            dids[i, t, : len(d)] = torch.tensor(d)
            dmask[i, t, : len(d)] = 1
            pids[i, t, : len(pr)] = torch.tensor(pr)
            pmask[i, t, : len(pr)] = 1
            meds[i, t, m] = 1
            vmask[i, t] = 1
    # padding slots hold arbitrary ids: the mask alone must hide them
    dids[dmask == 0] = ND - 1
    pids[pmask == 0] = NP - 1
    return dids, dmask, pids, pmask, meds, vmask


def official_forward(model: GAMENet, patient) -> torch.Tensor:
    """The official per-prefix algorithm (sjy1203/GAMENet code/models.py), one visit at a time."""
    enc_d, enc_p = model.diag_encoder, model.proc_encoder
    e_d = torch.stack([enc_d.embedding(torch.tensor(v[0])).mean(0) for v in patient])[None]
    e_p = torch.stack([enc_p.embedding(torch.tensor(v[1])).mean(0) for v in patient])[None]
    o1, _ = enc_d.gru(e_d)
    o2, _ = enc_p.gru(e_p)
    queries = model.query(torch.cat([o1, o2], -1)[0])
    query = queries[-1:]
    memory = model.ehr_gcn() - model.ddi_gcn() * model.beta
    fact1 = F.softmax(query @ memory.t(), -1) @ memory
    if len(patient) > 1:
        values = torch.zeros(len(patient) - 1, M)
        for i, v in enumerate(patient[:-1]):
            values[i, v[2]] = 1
        weight = F.softmax(query @ queries[:-1].t(), -1)
        fact2 = (weight @ values) @ memory
    else:
        fact2 = fact1
    return model.output(torch.cat([query, fact1, fact2], -1))[0]


def test_every_visit_matches_the_official_prefix_forward() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(1)
    patients = [make_patient(n, gen) for n in (1, 4, 2)]
    with torch.no_grad():
        logits = model(*pad(patients))
        assert logits.shape == (3, 4, M)
        for b, patient in enumerate(patients):
            for t in range(len(patient)):
                expected = official_forward(model, patient[: t + 1])
                torch.testing.assert_close(logits[b, t], expected, atol=1e-5, rtol=1e-5)


def test_padding_never_changes_a_real_visit() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(2)
    alone = [make_patient(2, gen)]
    others = [make_patient(6, gen), make_patient(1, gen)]
    with torch.no_grad():
        single = model(*pad(alone))[0, :2]
        batched = model(*pad(alone + others, extra_codes=3))[0, :2]
    torch.testing.assert_close(single, batched, atol=1e-6, rtol=1e-6)


def test_a_first_visit_reads_the_memory_bank_twice() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(3)
    patient = make_patient(3, gen)
    inputs = pad([patient])
    changed = list(inputs)
    changed[4] = torch.rand_like(inputs[4])  # other med histories
    with torch.no_grad():
        a, b = model(*inputs), model(*changed)
    torch.testing.assert_close(a[0, 0], b[0, 0])  # visit 1 has no dynamic memory
    assert not torch.allclose(a[0, 1], b[0, 1])


def test_gradients_are_finite_and_reach_beta() -> None:
    model = make_model().train()
    gen = torch.Generator().manual_seed(4)
    inputs = pad([make_patient(3, gen), make_patient(1, gen)])
    model(*inputs)[inputs[-1] > 0].sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert model.beta.grad is not None and model.beta.grad.abs().item() > 0


def test_seeded_models_are_identical() -> None:
    a, b = make_model(seed=5), make_model(seed=5)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name


def test_without_ddi_memory_the_bank_is_the_ehr_gcn() -> None:
    model = make_model(use_ddi_memory=False).eval()
    torch.testing.assert_close(model.memory_bank(), model.ehr_gcn())


def test_a_visit_without_codes_pools_to_zero_not_nan() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(6)
    inputs = list(pad([make_patient(2, gen)]))
    inputs[1] = inputs[1].clone()
    inputs[1][0, 1] = 0
    with torch.no_grad():
        assert torch.isfinite(model(*inputs)).all()


def test_repr_and_config_validation() -> None:
    model = make_model()
    assert "GraphEncoder(nodes=7, edges=6)" in repr(model)
    with pytest.raises(ValueError, match="GAMENetConfig: num_meds"):
        GAMENetConfig(num_diag_codes=1, num_proc_codes=1, num_meds=0)
    with pytest.raises(ValueError, match="embedding_dropout"):
        GAMENetConfig(num_diag_codes=1, num_proc_codes=1, num_meds=1, embedding_dropout=1.0)


def test_graph_encoder_equals_gcnconv_message_passing() -> None:
    from models.gamenet import GraphEncoder

    torch.manual_seed(0)
    edges = _edges([(0, 1), (1, 2), (3, 4), (0, 4)])
    enc = GraphEncoder(M, 6, edges, dropout=0.3).eval()
    x = torch.eye(M)
    h = torch.relu(enc.conv1(x, edges))
    torch.testing.assert_close(enc(), enc.conv2(h, edges))


def test_row_normalisation_is_the_official_d_inverse_a_plus_i() -> None:
    from models.gamenet import normalized_adjacency

    edges = _edges([(0, 1), (1, 2), (3, 4), (0, 4)])
    a = torch.zeros(M, M)
    a[edges[0], edges[1]] = 1.0
    a = a + torch.eye(M)
    expected = a / a.sum(1, keepdim=True)  # the official GCN.normalize: rowsum^-1 · (A + I)
    row = normalized_adjacency(edges, M, "row")
    torch.testing.assert_close(row, expected)
    torch.testing.assert_close(row.sum(1), torch.ones(M))
    assert not torch.allclose(normalized_adjacency(edges, M), row)  # symmetric differs


def test_official_gcn_init_is_uniform_with_a_non_zero_bias() -> None:
    model = make_model(gcn_init="uniform", graph_norm="row")
    conv = model.ehr_gcn.conv1
    bound = conv.out_channels**-0.5
    assert conv.bias is not None and conv.bias.abs().sum() > 0
    assert conv.lin.weight.abs().max() <= bound and conv.bias.abs().max() <= bound
    assert make_model().ehr_gcn.conv1.bias.abs().sum() == 0  # glorot: zero bias
    with pytest.raises(ValueError, match="graph_norm"):
        GAMENetConfig(num_diag_codes=1, num_proc_codes=1, num_meds=1, graph_norm="col")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gcn_init"):
        GAMENetConfig(num_diag_codes=1, num_proc_codes=1, num_meds=1, gcn_init="x")  # type: ignore[arg-type]
