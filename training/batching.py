"""Patients → padded id/mask tensors in the ONNX input contract of ``app.contract.manifest``.

Encoding maps each code through the frozen vocabularies once; codes the vocabularies do not know
(fitted on the training split, so validation and test patients have some) are dropped and counted
in :class:`EncodeStats` so the trainer can log them. Collation pads a list of encoded patients to
the batch's own maxima: visits are left-aligned and padding ids are 0 with mask 0.

Dimension letters: B patients, V visits, Cd / Cp codes per visit, M medications.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from training.data.records import Patient
from training.data.vocab import Vocabularies, Vocabulary

ROLES = ("diag_ids", "diag_mask", "proc_ids", "proc_mask", "med_history", "visit_mask")


@dataclass(frozen=True)
class EncodedPatient:
    """A patient's visits as vocabulary ids: one tuple per visit for each code kind."""

    diag: tuple[tuple[int, ...], ...]
    proc: tuple[tuple[int, ...], ...]
    meds: tuple[tuple[int, ...], ...]

    @property
    def num_visits(self) -> int:
        """The number of visits."""
        return len(self.diag)


@dataclass
class EncodeStats:
    """Counts of codes seen and of unknown codes dropped while encoding (no code values)."""

    seen: dict[str, int] = field(default_factory=lambda: {"diag": 0, "proc": 0, "med": 0})
    unknown: dict[str, int] = field(default_factory=lambda: {"diag": 0, "proc": 0, "med": 0})

    def describe(self) -> str:
        """One line for the log, e.g. ``unknown codes dropped: diag 3/120, proc 0/40, med 1/90``."""
        parts = [f"{k} {self.unknown[k]}/{self.seen[k]}" for k in ("diag", "proc", "med")]
        return "unknown codes dropped: " + ", ".join(parts)


@dataclass(frozen=True)
class Batch:
    """Padded tensors of one batch, named by their ONNX roles.

    ``med_history[b, t]`` holds the meds of visit ``t``: it is also the training target of visit
    ``t`` (the model reads row ``t`` only when predicting later visits).
    """

    diag_ids: Tensor  # [B, V, Cd] int64
    diag_mask: Tensor  # [B, V, Cd] float32
    proc_ids: Tensor  # [B, V, Cp] int64
    proc_mask: Tensor  # [B, V, Cp] float32
    med_history: Tensor  # [B, V, M] float32
    visit_mask: Tensor  # [B, V] float32

    def inputs(self) -> tuple[Tensor, ...]:
        """The model inputs in role order."""
        return tuple(getattr(self, role) for role in ROLES)

    def to(self, device: torch.device | str) -> Batch:
        """Return the batch on ``device``."""
        return Batch(*(t.to(device, non_blocking=True) for t in self.inputs()))


def _encode_codes(codes: Sequence[object], vocab: Vocabulary[object]) -> tuple[int, ...]:
    ids = (vocab.get(c) for c in codes)
    return tuple(i for i in ids if i is not None)


def encode_patient(patient: Patient, vocabs: Vocabularies, stats: EncodeStats) -> EncodedPatient:
    """Map one patient's codes to ids, counting unknown codes in ``stats``."""
    kinds: dict[str, list[tuple[int, ...]]] = {"diag": [], "proc": [], "med": []}
    for visit in patient.visits:
        for kind, codes, vocab in (
            ("diag", visit.diagnoses, vocabs.diag),
            ("proc", visit.procedures, vocabs.proc),
            ("med", visit.medications, vocabs.med),
        ):
            ids = _encode_codes(codes, vocab)  # type: ignore[arg-type]
            stats.seen[kind] += len(codes)
            stats.unknown[kind] += len(codes) - len(ids)
            kinds[kind].append(ids)
    return EncodedPatient(tuple(kinds["diag"]), tuple(kinds["proc"]), tuple(kinds["med"]))


def encode_patients(
    patients: Sequence[Patient], vocabs: Vocabularies
) -> tuple[list[EncodedPatient], EncodeStats]:
    """Encode every patient; returns the encodings and the unknown-code counts."""
    stats = EncodeStats()
    return [encode_patient(p, vocabs, stats) for p in patients], stats


def pad_codes(rows: Sequence[Sequence[Sequence[int]]], v: int) -> tuple[Tensor, Tensor]:
    """Return ``[B, V, C]`` int64 ids and float32 mask of per-patient, per-visit id lists.

    C is the longest list (at least 1); missing visits and codes are 0 in both.
    """
    width = max((len(c) for visits in rows for c in visits), default=0)
    width = max(width, 1)
    ids = np.zeros((len(rows), v, width), dtype=np.int64)
    mask = np.zeros((len(rows), v, width), dtype=np.float32)
    for b, visits in enumerate(rows):
        for t, codes in enumerate(visits):
            ids[b, t, : len(codes)] = codes
            mask[b, t, : len(codes)] = 1.0
    return torch.from_numpy(ids), torch.from_numpy(mask)


def collate(patients: Sequence[EncodedPatient], num_meds: int) -> Batch:
    """Pad ``patients`` to the batch's own maximum visit and code counts.

    Raises:
        ValueError: if the batch is empty or a patient has no visits.
    """
    if not patients:
        raise ValueError("collate: empty batch")
    if any(p.num_visits == 0 for p in patients):
        raise ValueError("collate: a patient has no visits")
    v = max(p.num_visits for p in patients)
    diag_ids, diag_mask = pad_codes([p.diag for p in patients], v)
    proc_ids, proc_mask = pad_codes([p.proc for p in patients], v)
    meds = np.zeros((len(patients), v, num_meds), dtype=np.float32)
    visit_mask = np.zeros((len(patients), v), dtype=np.float32)
    for b, p in enumerate(patients):
        visit_mask[b, : p.num_visits] = 1.0
        for t, ids in enumerate(p.meds):
            meds[b, t, list(ids)] = 1.0
    return Batch(
        diag_ids,
        diag_mask,
        proc_ids,
        proc_mask,
        torch.from_numpy(meds),
        torch.from_numpy(visit_mask),
    )


def prefix(patient: EncodedPatient, visits: int) -> EncodedPatient:
    """Return the patient's first ``visits`` visits (the reference mode's per-visit input)."""
    return EncodedPatient(patient.diag[:visits], patient.proc[:visits], patient.meds[:visits])
