"""The fixed medication graphs of GAMENet: EHR co-prescription and known DDIs.

Both are dense ``[M, M]`` float32 0/1 matrices over the medication vocabulary, with a zero
diagonal; :func:`edge_index` turns one into the ``[2, E]`` form torch-geometric layers take.

Fix against the reference: the official preprocessing (``sjy1203/GAMENet`` ``data/EDA.ipynb``,
which writes ``ehr_adj_final.pkl``; SafeDrug's ``data/processing.py`` does the same) builds the EHR
co-occurrence graph over *all* records, test patients included, so the model sees test
co-prescriptions through its memory bank. We build it from the training split only: callers pass
``split.train``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.contract.ddi_table import DdiTable
from training.data.records import Patient
from training.data.vocab import Vocabulary


def ehr_adjacency(train_patients: Sequence[Patient], med_vocab: Vocabulary[str]) -> np.ndarray:
    """Return the EHR co-prescription graph: 1 where two meds share a training visit.

    As in the reference, an edge is unweighted (any co-prescription counts once) and a med is not
    its own neighbour. Medications outside ``med_vocab`` have no node and are skipped.

    Args:
        train_patients: the training split only (never validation or test patients).
        med_vocab: the medication vocabulary; node ``i`` is ``med_vocab.tokens[i]``.

    Returns:
        ``[M, M]`` float32 symmetric 0/1 matrix with a zero diagonal.
    """
    adj = np.zeros((len(med_vocab), len(med_vocab)), dtype=np.float32)
    for patient in train_patients:
        for visit in patient.visits:
            ids = [i for i in map(med_vocab.get, visit.medications) if i is not None]
            adj[np.ix_(ids, ids)] = 1.0
    np.fill_diagonal(adj, 0.0)
    return adj


def ddi_adjacency(table: DdiTable, med_vocab: Vocabulary[str]) -> np.ndarray:
    """Return the known-DDI graph: 1 where the table lists the pair, in both directions.

    Pairs naming a class outside ``med_vocab`` are ignored: such a class is never predicted, so it
    cannot affect the DDI loss or the DDI rate.

    Args:
        table: the known interactions (ATC3 pairs).
        med_vocab: the medication vocabulary; node ``i`` is ``med_vocab.tokens[i]``.

    Returns:
        ``[M, M]`` float32 symmetric 0/1 matrix with a zero diagonal.
    """
    adj = np.zeros((len(med_vocab), len(med_vocab)), dtype=np.float32)
    for pair in table.pairs:
        i, j = med_vocab.get(pair.atc3_a), med_vocab.get(pair.atc3_b)
        if i is not None and j is not None:
            adj[i, j] = adj[j, i] = 1.0
    return adj


def edge_index(adj: np.ndarray) -> np.ndarray:
    """Return the non-zero entries of a square adjacency matrix as ``[2, E]`` int64 (row, col).

    Edges come in row-major order; a symmetric matrix yields both directions of every edge.

    Raises:
        ValueError: if ``adj`` is not a square 2-D matrix.

    >>> edge_index(np.array([[0, 1], [1, 0]], dtype=np.float32)).tolist()
    [[0, 1], [1, 0]]
    """
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError("edge_index: adj must be a square 2-D matrix")
    rows, cols = np.nonzero(adj)
    return np.stack([rows, cols]).astype(np.int64)
