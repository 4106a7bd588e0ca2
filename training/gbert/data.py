"""Everything a G-BERT stage needs from a dataset: split, vocabularies, encoded visits, DDI graph.

The split is the data branch's splitter with the run's seed, over the patients with at least one
visit (as GAMENet's ``prepare_data``), so both models see the same test patients. Vocabularies
are fitted on the training split by ``pretrain`` and inherited from ``--init`` by the later
stages. The DDI table is the dataset's own ``ddi.csv`` when it has one, else ``--ddi``
(GAMENet's :func:`~training.gamenet.data.resolve_ddi_table`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from training.data.records import Patient
from training.data.splits import Split, SplitConfig, split_patients
from training.data.vocab import Vocabularies
from training.gamenet.data import resolve_ddi_table
from training.gbert.batches import EncodedVisit, encode_patient
from training.gbert.config import TrainConfig
from training.graphs import ddi_adjacency

logger = logging.getLogger(__name__)
Encoded = dict[str, list[list[EncodedVisit]]]  # part ("train", "val", "test") -> patients


def split_run(patients: list[Patient], config: TrainConfig) -> Split:
    """Return the split of the patients with visits that a run with ``config`` uses."""
    kept = [p for p in patients if p.visits]
    if len(kept) < len(patients):
        logger.warning("skipped %d patients without visits", len(patients) - len(kept))
    return split_patients(kept, SplitConfig(method=config.split, seed=config.seed))


def encode_split(split: Split, vocabs: Vocabularies, use_procedures: bool = False) -> Encoded:
    """Encode every patient of each part (procedures too with ``use_procedures``)."""
    return {
        name: [encode_patient(p, vocabs, use_procedures) for p in getattr(split, name)]
        for name in ("train", "val", "test")
    }


def ddi_graph(
    data_dir: Path, ddi_path: Path | None, vocabs: Vocabularies
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Return the ``[M, M]`` DDI adjacency of the run's DDI table and its source record.

    The table is the dataset's own ``ddi.csv``, else ``ddi_path``; without either the adjacency
    is all zero (the DDI rate is reported as 0, with a warning).
    """
    try:
        table = resolve_ddi_table(Path(data_dir), ddi_path)
    except FileNotFoundError:
        logger.warning("%s: no ddi.csv in the dataset and no --ddi: the DDI rate is 0", data_dir)
        m = len(vocabs.med)
        return np.zeros((m, m), dtype=np.float32), None
    source = {"name": table.name, "fingerprint": table.fingerprint, "pairs": len(table.pairs)}
    return ddi_adjacency(table, vocabs.med), source


def _visits(patients: list[list[EncodedVisit]]) -> list[EncodedVisit]:
    return [v for p in patients for v in p]


def pretraining_visits(enc: Encoded) -> list[EncodedVisit]:
    """Every visit of the training patients.

    Every validation and test visit is predicted (the first one with a zero past), so none of
    them is pre-training data, single-visit patients included (official G-BERT pre-trains on
    the single-visit patients of every part because it never predicts them).
    """
    return _visits(enc["train"])


def validation_visits(enc: Encoded) -> list[EncodedVisit]:
    """Every visit of the validation patients (the pre-training validation loss)."""
    return _visits(enc["val"])
