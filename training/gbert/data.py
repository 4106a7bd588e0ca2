"""Everything a G-BERT stage needs from a dataset: split, vocabularies, encoded visits, DDI graph.

The split is the data branch's splitter with the run's seed; vocabularies are fitted on the
training split by ``pretrain`` and inherited from ``--init`` by the later stages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.ddi_table import read_ddi_csv
from training.data.records import Patient
from training.data.splits import Split, SplitConfig, split_patients
from training.data.vocab import Vocabularies
from training.gbert.batches import EncodedVisit, encode_patient
from training.gbert.config import TrainConfig
from training.graphs import ddi_adjacency

logger = logging.getLogger(__name__)
Encoded = dict[str, list[list[EncodedVisit]]]  # part ("train", "val", "test") -> patients


def split_run(patients: list[Patient], config: TrainConfig) -> Split:
    """Return the split of ``patients`` a run with ``config`` uses."""
    return split_patients(patients, SplitConfig(method=config.split, seed=config.seed))


def encode_split(split: Split, vocabs: Vocabularies) -> Encoded:
    """Encode every patient of each part."""
    return {
        name: [encode_patient(p, vocabs) for p in getattr(split, name)]
        for name in ("train", "val", "test")
    }


def ddi_graph(
    ddi_path: Path | None, vocabs: Vocabularies
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Return the ``[M, M]`` DDI adjacency of ``ddi_path`` and its source record.

    Without a table the adjacency is all zero (the DDI rate is reported as 0, with a warning).
    """
    m = len(vocabs.med)
    if ddi_path is None:
        logger.warning("no --ddi table: the DDI rate is reported as 0")
        return np.zeros((m, m), dtype=np.float32), None
    table = read_ddi_csv(Path(ddi_path))
    source = {"name": table.name, "fingerprint": table.fingerprint, "pairs": len(table.pairs)}
    return ddi_adjacency(table, vocabs.med), source


def _visits(patients: list[list[EncodedVisit]]) -> list[EncodedVisit]:
    return [v for p in patients for v in p]


def pretraining_visits(enc: Encoded) -> list[EncodedVisit]:
    """Every train visit plus the visits of single-visit patients of val and test.

    As G-BERT: single-visit patients are never predicted (fine-tuning and evaluation need two
    visits), so their visits add pre-training data without touching what is evaluated.
    """
    singles = [p for name in ("val", "test") for p in enc[name] if len(p) == 1]
    return _visits(enc["train"]) + _visits(singles)


def validation_visits(enc: Encoded) -> list[EncodedVisit]:
    """Visits of multi-visit validation patients (single-visit ones are pre-training data)."""
    return _visits([p for p in enc["val"] if len(p) >= 2])
