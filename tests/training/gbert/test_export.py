import pytest
import torch

from models.gbert.adapters import MoRLinear
from models.gbert.config import AdapterConfig, GBertConfig
from models.gbert.model import GBertRecommender
from tests.models.gbert.conftest import chain_graph
from training.gbert.batches import EncodedVisit, contract_feeds, recommend_batch
from training.gbert.export import GBertProcServing, GBertServing, serving_module


def _model(routing="token", procedures=0):
    torch.manual_seed(0)
    cfg = GBertConfig(
        use_procedures=procedures > 0,
        num_proc_codes=procedures,
        num_diag_codes=7,
        num_meds=5,
        hidden=16,
        heads=4,
        head_dim=4,
        intermediate=16,
        key_maps=((0, 0, 1, 1), (0, 1, 2, 0)),
        value_maps=((0, 0, 0, 0), (0, 1, 1, 1)),
    )
    px = chain_graph(procedures) if procedures else None
    model = GBertRecommender(cfg, chain_graph(7), chain_graph(5), px)
    model.encoder.add_adapters(AdapterConfig(kind="mor", rank=2, experts=3, routing=routing))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def test_serving_wrapper_matches_training_path():
    model = _model()
    patients = [
        [EncodedVisit((0, 3), (1, 2)), EncodedVisit((4,), (0,)), EncodedVisit((5, 6, 1), (3,))],
        [EncodedVisit((2,), (4,)), EncodedVisit((1, 0), ())],
        [EncodedVisit((6,), ())],
    ]
    with torch.no_grad():
        batch = recommend_batch(patients, 5, 7)
        probs = torch.sigmoid(model(batch["dx_tokens"], batch["rx_tokens"], batch["visit_mask"]))
        served = GBertServing(model)(**contract_feeds(patients))
    expected = torch.stack([probs[i, len(p) - 1] for i, p in enumerate(patients)])
    torch.testing.assert_close(served, expected, atol=1e-5, rtol=1e-4)


def test_repeated_visits_are_encoded_once_with_the_same_answer():
    # The service's evidence batch: one patient, once per code of the last visit left out.
    model = _model()
    past = [EncodedVisit((0, 3), (1, 2)), EncodedVisit((4,), (0,))]
    last = (5, 6, 1)
    patients = [[*past, EncodedVisit(last, ())]]
    patients += [[*past, EncodedVisit(last[:i] + last[i + 1 :], ())] for i in range(len(last))]
    wrapper = GBertServing(model)
    rows: list[int] = []
    wrapper.model.encoder.register_forward_hook(lambda _m, args, _o: rows.append(len(args[0])))
    with torch.no_grad():
        batch = recommend_batch(patients, 5, 7)
        probs = torch.sigmoid(model(batch["dx_tokens"], batch["rx_tokens"], batch["visit_mask"]))
        rows.clear()
        served = wrapper(**contract_feeds(patients))
    torch.testing.assert_close(served, probs[:, -1], atol=1e-6, rtol=1e-5)
    # dx: the 2 past visits and the 4 last ones; rx: the 2 past and the last's [CLS] alone
    assert rows == [2 + len(patients), 2 + 1]


def test_constant_routing_is_merged_in_the_wrapper():
    wrapper = GBertServing(_model("constant"))
    assert not any(isinstance(m, MoRLinear) for m in wrapper.modules())
    assert not hasattr(wrapper.model.encoder, "dx_onto")


def test_procedure_roles_match_the_training_path():
    model = _model(procedures=4)
    patients = [
        [
            EncodedVisit((0, 3), (1, 2), (1,)),
            EncodedVisit((4,), (0,), ()),
            EncodedVisit((5,), (3,), (0, 3)),
        ],
        [EncodedVisit((2,), (4,), (2, 1)), EncodedVisit((1, 0), (), (3,))],
        [EncodedVisit((6,), (), ())],
    ]
    wrapper = serving_module(model)
    assert isinstance(wrapper, GBertProcServing)
    with torch.no_grad():
        batch = recommend_batch(patients, 5, 7)
        probs = torch.sigmoid(model(batch["dx_tokens"], batch["rx_tokens"], batch["visit_mask"]))
        served = wrapper(**contract_feeds(patients, use_procedures=True))
        feeds = contract_feeds(patients, use_procedures=True)
        feeds["proc_mask"] = torch.zeros_like(feeds["proc_mask"])
        unread = wrapper(**feeds)
    expected = torch.stack([probs[i, len(p) - 1] for i, p in enumerate(patients)])
    torch.testing.assert_close(served, expected, atol=1e-5, rtol=1e-4)
    assert (served[:2] - unread[:2]).abs().max() > 1e-6  # the procedure roles are read
    with pytest.raises(ValueError, match="use_procedures"):
        GBertServing(model)
