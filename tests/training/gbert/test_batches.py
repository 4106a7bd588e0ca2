import torch

from models.gbert.model import CLS, MASK, PAD
from tests.training.gbert.factories import tiny_patients
from training.data.vocab import Vocabularies
from training.gbert.batches import (
    EncodedVisit,
    contract_feeds,
    encode_patient,
    mask_tokens,
    med_tokens,
    pad_tokens,
    recommend_batch,
)


def test_pad_tokens_trims_to_longest():
    t = pad_tokens([(0, 4), (), (1, 2, 3)])
    assert t.tolist() == [[CLS, 3, 7, PAD], [CLS, PAD, PAD, PAD], [CLS, 4, 5, 6]]


def test_mask_tokens_never_masks_cls_or_pad():
    tokens = pad_tokens([tuple(range(50)), (1,)])
    inputs, targets = mask_tokens(tokens, 60, 0.5, torch.Generator().manual_seed(0))
    assert (inputs[:, 0] == CLS).all() and (targets[:, 0] == -100).all()
    assert (targets[tokens == PAD] == -100).all()
    chosen = targets >= 0
    assert chosen.any() and (inputs[chosen] == MASK).float().mean() > 0.5
    assert (targets[chosen] == tokens[chosen] - 3).all()


def test_encode_and_batches():
    patients = tiny_patients(6)
    vocabs = Vocabularies.fit(patients)
    enc = [encode_patient(p, vocabs) for p in patients]
    batch = recommend_batch(enc, len(vocabs.med), len(vocabs.diag))
    v = max(len(p) for p in enc)
    assert batch["dx_tokens"].shape[:2] == (6, v) and batch["visit_mask"].sum() == sum(
        map(len, enc)
    )
    assert batch["targets"].shape == (6, v, len(vocabs.med))
    feeds = contract_feeds(enc)
    for i, p in enumerate(enc):  # each past visit's medications as ids, the last visit's empty
        for j, visit in enumerate(p):
            ids = feeds["med_ids"][i, j][feeds["med_mask"][i, j] > 0].tolist()
            assert ids == (list(visit.rx) if j < len(p) - 1 else [])


def test_med_tokens_of_a_multi_hot_history():
    history = torch.tensor([[[0.0, 1, 0, 1], [0, 0, 0, 0]], [[1, 1, 1, 0], [0, 0, 1, 0]]])
    feeds = med_tokens(history)
    assert feeds["med_ids"].tolist() == [[[1, 3, 0], [0, 0, 0]], [[0, 1, 2], [2, 0, 0]]]
    assert feeds["med_mask"].tolist() == [[[1, 1, 0], [0, 0, 0]], [[1, 1, 1], [1, 0, 0]]]
    assert med_tokens(torch.zeros(1, 2, 4))["med_ids"].shape == (1, 2, 1)


def test_unknown_codes_are_left_out():
    patients = tiny_patients(3)
    vocabs = Vocabularies.fit(patients[:1])
    enc = encode_patient(patients[2], vocabs)
    assert all(i < len(vocabs.diag) for v in enc for i in v.dx)
    assert isinstance(enc[0], EncodedVisit)


def test_bucketed_batches_cover_all_and_group_lengths():
    from training.gbert.batches import bucketed_batches

    lengths = [i % 7 for i in range(100)]
    batches = bucketed_batches(lengths, 10, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(100))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread < 20
    assert batches == bucketed_batches(lengths, 10, seed=0)


def test_procedures_join_the_diagnosis_side_after_the_diagnoses():
    patients = tiny_patients(8, procedures=True)
    vocabs = Vocabularies.fit(patients)
    kd = len(vocabs.diag)
    plain = [encode_patient(p, vocabs) for p in patients]
    enc = [encode_patient(p, vocabs, use_procedures=True) for p in patients]
    assert all(v.px == () for p in plain for v in p)  # diag mode never reads them
    assert any(v.px for p in enc for v in p)
    assert [[v.dx for v in p] for p in enc] == [[v.dx for v in p] for p in plain]
    batch = recommend_batch(enc, len(vocabs.med), kd)
    visit = next(v for v in enc[0] if v.px)
    row = batch["dx_tokens"][0, enc[0].index(visit)]
    expected = [3 + i for i in visit.dx] + [3 + kd + j for j in visit.px]
    assert row[1 : 1 + len(expected)].tolist() == expected
    feeds = contract_feeds(enc, use_procedures=True)
    assert set(feeds) >= {"proc_ids", "proc_mask"} and "proc_ids" not in contract_feeds(enc)
    for i, p in enumerate(enc):  # procedure vocabulary indices, as the service sends them
        for j, v in enumerate(p):
            assert feeds["proc_ids"][i, j][feeds["proc_mask"][i, j] > 0].tolist() == list(v.px)


def test_mask_tokens_never_masks_procedures():
    tokens = pad_tokens([tuple(range(10)) + tuple(10 + j for j in range(10))])  # 10 dx, 10 px
    inputs, targets = mask_tokens(tokens, 10, 0.9, torch.Generator().manual_seed(0))
    is_proc = tokens >= 3 + 10
    assert (targets[is_proc] == -100).all() and (inputs[is_proc] == tokens[is_proc]).all()
    assert (targets[~is_proc] >= 0).any() and (targets < 10).all()
