"""The one footing every row of a report stands on: one split, one vocabulary, one DDI table.

The split is :func:`training.data.splits.split_patients` (the trainers' own), over the dataset's
patients with at least one visit. The medication columns are one vocabulary: the training
split's meds (most frequent first), then any med first seen in validation or test (sorted), so
the ground truth of a visit is *all* its medications; a predictor whose vocabulary lacks a
column scores 0 for it (:func:`align`). The DDI table is the dataset's own ``ddi.csv``, else the
file given (``training.gamenet.data.resolve_ddi_table``, the trainers' rule).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.ddi_table import DdiTable
from training.baselines import med_targets
from training.data.dataset import Dataset
from training.data.records import Patient
from training.data.splits import Split, SplitConfig, split_patients
from training.data.vocab import Vocabularies, Vocabulary
from training.gamenet.data import resolve_ddi_table
from training.graphs import ddi_adjacency

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Footing:
    """The split, medication columns and DDI graph shared by every row.

    Attributes:
        data_dir: the dataset.
        split: the patients of each part.
        med_vocab: the evaluation's medication columns.
        ddi_table: the interaction table.
        ddi_adj: ``[M, M]`` known-interaction graph over ``med_vocab``.
        dataset: fingerprint, source format and the split's record.
    """

    data_dir: Path
    split: Split
    med_vocab: Vocabulary[str]
    ddi_table: DdiTable
    ddi_adj: np.ndarray
    dataset: dict[str, Any]

    def truth(self, patients: Sequence[Patient]) -> list[np.ndarray]:
        """Return each patient's true meds as bool ``[V_p, M]`` over :attr:`med_vocab`."""
        return med_targets(patients, self.med_vocab)

    def interacts(self) -> np.ndarray:
        """Return the bool, symmetric ``[M, M]`` known-interaction matrix (zero diagonal)."""
        sym: np.ndarray = (self.ddi_adj != 0) | (self.ddi_adj.T != 0)
        np.fill_diagonal(sym, False)
        return sym


def load_footing(data_dir: Path, split: SplitConfig, ddi_path: Path | None = None) -> Footing:
    """Load the dataset, split it and build the shared columns and DDI graph.

    Raises:
        FileNotFoundError: if ``data_dir`` is not a dataset or no DDI table is found.
        ValueError: if a split part is empty or the medications are not ATC3 classes.
    """
    data_dir = Path(data_dir)
    dataset = Dataset(data_dir)
    med_system = dataset.manifest.extra.get("medication_system", "atc3")
    if med_system != "atc3":
        raise ValueError(f"{data_dir}: medications are {med_system} codes, not ATC3 classes")
    patients = [p for p in dataset.load() if p.visits]
    parts = split_patients(patients, split)
    for name in ("train", "val", "test"):
        if not getattr(parts, name):
            raise ValueError(f"{data_dir}: the {name} split is empty ({len(patients)} patients)")
    train_meds = Vocabularies.fit(parts.train).med.tokens
    seen = set(train_meds)
    later = sorted(
        {m for p in parts.val + parts.test for v in p.visits for m in v.medications} - seen
    )
    med_vocab = Vocabulary((*train_meds, *later))
    table = resolve_ddi_table(data_dir, ddi_path)
    manifest = dataset.manifest
    info = {
        "fingerprint": manifest.fingerprint,
        "source_format": manifest.source_format,
        "synthetic": manifest.is_synthetic,
        "split": parts.describe(),
    }
    return Footing(data_dir, parts, med_vocab, table, ddi_adjacency(table, med_vocab), info)


def align(
    scores: Sequence[np.ndarray], columns: Sequence[str], vocab: Vocabulary[str]
) -> list[np.ndarray]:
    """Map ``[V_p, len(columns)]`` scores onto ``vocab``'s columns; missing columns score 0.

    A column outside ``vocab`` (a med no evaluation visit has, nor the training split) is dropped:
    it is never true, so it can only add false positives, and the report says how many there are.
    """
    src = [i for i, c in enumerate(columns) if c in vocab]
    dst = [vocab.index(columns[i]) for i in src]
    out = []
    for s in scores:
        a = np.zeros((s.shape[0], len(vocab)), dtype=np.float64)
        a[:, dst] = s[:, src]
        out.append(a)
    return out


def visits_digest(patients: Sequence[Patient]) -> str:
    """Return a sha256 over the patients' ids and visit ids, in order (what a row scored)."""
    digest = hashlib.sha256()
    for p in patients:
        digest.update(
            p.patient_id.encode() + b":" + ",".join(v.visit_id for v in p.visits).encode()
        )
        digest.update(b"\n")
    return digest.hexdigest()
