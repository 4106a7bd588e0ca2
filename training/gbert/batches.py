"""G-BERT inputs: visits → token sets padded to the batch's longest set (never a fixed 55).

``training/batching.py`` (the GAMENet branch) builds the serving contract's padded tensors; G-BERT
trains on token sets instead, so this small builder lives here. :func:`contract_feeds` builds the
serving contract with that branch's :func:`~training.batching.pad_codes` (roles ``diag_ids``,
``diag_mask``, ``med_ids``, ``med_mask``, ``visit_mask``, plus ``proc_ids`` and ``proc_mask`` for
a model with procedures) for the export parity check and the bench.

Token ids: 0 ``[PAD]``, 1 ``[CLS]``, 2 ``[MASK]``, ``3 + i`` for vocabulary index ``i``. On the
diagnosis side of a model with procedures, procedure ``j`` is ``3 + Kd + j``
(:func:`diag_side`), after the Kd diagnoses.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from models.gbert.model import CLS, MASK, PAD, SPECIAL
from training.batching import pad_codes
from training.data.records import Patient
from training.data.vocab import Vocabularies


@dataclass(frozen=True)
class EncodedVisit:
    """A visit as vocabulary indices; out-of-vocabulary codes are left out.

    ``px`` (procedure indices) is empty unless the model reads procedures.
    """

    dx: tuple[int, ...]
    rx: tuple[int, ...]
    px: tuple[int, ...] = ()


def _known(ids: Iterable[int | None]) -> tuple[int, ...]:
    return tuple(i for i in ids if i is not None)


def encode_patient(
    patient: Patient, vocabs: Vocabularies, use_procedures: bool = False
) -> list[EncodedVisit]:
    """Return the visits of ``patient`` as vocabulary indices, in time order.

    Procedures are encoded only with ``use_procedures``.
    """
    return [
        EncodedVisit(
            _known(vocabs.diag.get(c) for c in visit.diagnoses),
            _known(vocabs.med.get(m) for m in visit.medications),
            _known(vocabs.proc.get(c) for c in visit.procedures) if use_procedures else (),
        )
        for visit in patient.visits
    ]


def diag_side(visit: EncodedVisit, num_diag: int) -> tuple[int, ...]:
    """Return the diagnosis-side set of ``visit``: diagnoses, then ``num_diag + j`` per procedure.

    >>> diag_side(EncodedVisit((0, 4), (1,), (2,)), num_diag=5)
    (0, 4, 7)
    """
    return visit.dx + tuple(num_diag + j for j in visit.px)


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Return shuffled batches of indices whose lengths are alike, so little padding is left.

    Indices are shuffled, sorted by length inside windows of 50 batches, cut into batches, and
    the batches are shuffled again (the usual length bucketing).
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = 50 * batch_size
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[s : s + batch_size] for s in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def pad_tokens(sets: Sequence[Sequence[int]]) -> Tensor:
    """Return ``[N, 1 + longest]`` int64 tokens: [CLS] then each set's ids + 3, then [PAD]."""
    width = 1 + max((len(s) for s in sets), default=0)
    out = torch.full((len(sets), width), PAD, dtype=torch.long)
    out[:, 0] = CLS
    for row, ids in enumerate(sets):
        out[row, 1 : 1 + len(ids)] = torch.as_tensor(ids, dtype=torch.long) + SPECIAL
    return out


def multi_hot(sets: Sequence[Sequence[int]], size: int) -> Tensor:
    """Return ``[N, size]`` float 0/1 rows."""
    out = torch.zeros(len(sets), size)
    for row, ids in enumerate(sets):
        out[row, list(ids)] = 1.0
    return out


def mask_tokens(
    tokens: Tensor, vocab_size: int, prob: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """BERT masking of the ``vocab_size`` codes' positions; returns (inputs, targets).

    [CLS], [PAD] and tokens past the vocabulary (a diagnosis side's procedures) are never chosen.

    Each code is chosen with ``prob``; a chosen code becomes [MASK] 80% of the time, a random
    code 10%, and stays 10% (as G-BERT's ``random_word``). ``targets`` holds the vocabulary index
    at chosen positions and -100 elsewhere.
    """
    is_code = (tokens >= SPECIAL) & (tokens < SPECIAL + vocab_size)  # procedures: context only
    chosen = (torch.rand(tokens.shape, generator=generator) < prob) & is_code
    targets = torch.where(chosen, tokens - SPECIAL, torch.full_like(tokens, -100))
    roll = torch.rand(tokens.shape, generator=generator)
    random_codes = torch.randint(SPECIAL, SPECIAL + vocab_size, tokens.shape, generator=generator)
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(tokens, MASK), tokens)
    inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_codes, inputs)
    return inputs, targets


def pretrain_batch(
    visits: Sequence[EncodedVisit],
    num_diag: int,
    num_meds: int,
    prob: float,
    generator: torch.Generator,
) -> dict[str, Tensor]:
    """Return masked tokens, masked-code targets and the full sets as multi-hot targets."""
    dx_tokens = pad_tokens([diag_side(v, num_diag) for v in visits])
    dx_in, dx_target = mask_tokens(dx_tokens, num_diag, prob, generator)
    rx_in, rx_target = mask_tokens(pad_tokens([v.rx for v in visits]), num_meds, prob, generator)
    return {
        "dx_tokens": dx_in,
        "rx_tokens": rx_in,
        "dx_masked": dx_target,
        "rx_masked": rx_target,
        "dx_set": multi_hot([v.dx for v in visits], num_diag),
        "rx_set": multi_hot([v.rx for v in visits], num_meds),
    }


def recommend_batch(
    patients: Sequence[Sequence[EncodedVisit]], num_meds: int, num_diag: int
) -> dict[str, Tensor]:
    """Return padded token sets, the visit mask and each visit's own medications.

    Keys: ``dx_tokens`` [B, V, Cd] (the diagnosis side, :func:`diag_side`), ``rx_tokens``
    [B, V, Cr], ``visit_mask`` [B, V] and ``targets`` [B, V, M]; short patients are padded with
    empty visits.
    """
    b, v = len(patients), max(len(p) for p in patients)
    empty = EncodedVisit((), ())
    flat = [p[i] if i < len(p) else empty for p in patients for i in range(v)]
    visit_mask = torch.zeros(b, v)
    for row, p in enumerate(patients):
        visit_mask[row, : len(p)] = 1.0
    return {
        "dx_tokens": pad_tokens([diag_side(x, num_diag) for x in flat]).view(b, v, -1),
        "rx_tokens": pad_tokens([x.rx for x in flat]).view(b, v, -1),
        "visit_mask": visit_mask,
        "targets": multi_hot([x.rx for x in flat], num_meds).view(b, v, num_meds),
    }


def contract_feeds(
    patients: Sequence[Sequence[EncodedVisit]], use_procedures: bool = False
) -> dict[str, Tensor]:
    """Return the serving contract's feeds for predicting each patient's last visit.

    ``med_ids`` / ``med_mask`` hold the medications of every visit but the last, whose row is
    empty (as the service feeds them). ``proc_ids`` / ``proc_mask`` come with ``use_procedures``.
    """
    v = max(len(p) for p in patients)
    roles = {"diag": [[x.dx for x in p] for p in patients]}
    if use_procedures:
        roles["proc"] = [[x.px for x in p] for p in patients]
    roles["med"] = [[x.rx for x in p[:-1]] for p in patients]
    visit_mask = np.zeros((len(patients), v), dtype=np.float32)
    for i, p in enumerate(patients):
        visit_mask[i, : len(p)] = 1.0
    feeds = {}
    for role, rows in roles.items():
        feeds[f"{role}_ids"], feeds[f"{role}_mask"] = pad_codes(rows, v)
    return {**feeds, "visit_mask": torch.from_numpy(visit_mask)}


def med_tokens(med_history: Tensor) -> dict[str, Tensor]:
    """Return the ``med_ids`` / ``med_mask`` feeds of a multi-hot ``med_history`` [B, V, M].

    Each row's medications, in vocabulary order, padded to the longest row (at least 1).
    """
    present = med_history > 0
    width = max(1, int(present.sum(-1).max()))
    # a stable sort of "absent" puts each row's present ids first, in vocabulary order
    order = torch.sort((~present).to(torch.int8), dim=-1, stable=True).indices[..., :width]
    mask = torch.gather(present, -1, order)
    return {"med_ids": order * mask, "med_mask": mask.float()}
