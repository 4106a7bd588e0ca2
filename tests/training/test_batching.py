from __future__ import annotations

import pytest
import torch

from training.batching import ROLES, collate, encode_patients, prefix
from training.data.records import Code, Patient, Visit
from training.data.vocab import Vocabularies, Vocabulary


def _visit(dx: list[str], px: list[str], meds: list[str]) -> Visit:
    return Visit(
        "v",
        None,
        tuple(Code("icd9cm", d) for d in dx),
        tuple(Code("icd9proc", p) for p in px),
        tuple(meds),
    )


VOCABS = Vocabularies(
    diag=Vocabulary((Code("icd9cm", "4019"), Code("icd9cm", "25000"))),
    proc=Vocabulary((Code("icd9proc", "3893"),)),
    med=Vocabulary(("N02B", "C07A", "A02B")),
)


def test_encode_drops_and_counts_unknown_codes() -> None:
    patient = Patient(
        "p",
        (
            _visit(["4019", "9999"], ["3893"], ["N02B", "Z99Z"]),
            _visit(["25000"], ["0000"], ["A02B"]),
        ),
    )
    (encoded,), stats = encode_patients([patient], VOCABS)
    assert encoded.diag == ((0,), (1,))
    assert encoded.proc == ((0,), ())
    assert encoded.meds == ((0,), (2,))
    assert stats.unknown == {"diag": 1, "proc": 1, "med": 1}
    assert stats.seen == {"diag": 3, "proc": 2, "med": 3}
    assert stats.describe() == "unknown codes dropped: diag 1/3, proc 1/2, med 1/3"


def test_collate_pads_to_the_batch_maximum_left_aligned() -> None:
    long = Patient("a", (_visit(["4019"], ["3893"], ["N02B"]),) * 3)
    short = Patient("b", (_visit(["4019", "25000"], [], ["C07A", "A02B"]),))
    encoded, _ = encode_patients([long, short], VOCABS)
    batch = collate(encoded, num_meds=3)
    assert batch.diag_ids.shape == (2, 3, 2) and batch.diag_ids.dtype == torch.int64
    assert batch.proc_ids.shape == (2, 3, 1)
    assert batch.med_history.shape == (2, 3, 3) and batch.med_history.dtype == torch.float32
    assert batch.visit_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch.diag_mask[1].tolist() == [[1, 1], [0, 0], [0, 0]]
    assert batch.proc_mask[1].sum() == 0
    assert batch.med_history[1, 0].tolist() == [0, 1, 1]
    assert len(batch.inputs()) == len(ROLES)


def test_collate_trims_to_this_batch_and_prefix_cuts_visits() -> None:
    encoded, _ = encode_patients(
        [Patient("a", (_visit(["4019"], ["3893"], ["N02B"]),) * 4)], VOCABS
    )
    cut = prefix(encoded[0], 2)
    assert cut.num_visits == 2
    assert collate([cut], num_meds=3).visit_mask.shape == (1, 2)


def test_collate_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="empty batch"):
        collate([], num_meds=3)
