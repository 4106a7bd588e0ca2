from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.contract.ddi_table import DdiPair, DdiTable, read_ddi_csv
from tests.factories import make_visit, random_patients
from training.data.records import Patient
from training.data.vocab import Vocabulary
from training.graphs import ddi_adjacency, edge_index, ehr_adjacency

VOCAB = Vocabulary(("A01A", "B01A", "C07A", "N02B"))


def test_ehr_adjacency_hand_computed() -> None:
    patients = [
        Patient("p", (make_visit("1", medications=("A01A", "C07A")),)),
        Patient(
            "q",
            (
                make_visit("2", medications=("B01A",)),
                make_visit("3", medications=("N02B", "C07A", "Z99Z")),
            ),
        ),
    ]
    adj = ehr_adjacency(patients, VOCAB)
    expected = np.zeros((4, 4), dtype=np.float32)
    for i, j in [(0, 2), (2, 3)]:
        expected[i, j] = expected[j, i] = 1
    assert adj.dtype == np.float32
    np.testing.assert_array_equal(adj, expected)


def test_ehr_adjacency_uses_only_given_patients() -> None:
    train = [Patient("p", (make_visit("1", medications=("A01A", "B01A")),))]
    test = [Patient("t", (make_visit("2", medications=("C07A", "N02B")),))]
    adj = ehr_adjacency(train, VOCAB)
    assert adj[2, 3] == 0 and adj[0, 1] == 1
    assert ehr_adjacency(train + test, VOCAB)[2, 3] == 1


def test_ehr_adjacency_random_is_symmetric_binary_zero_diagonal() -> None:
    patients = random_patients(20, seed=3)
    vocab = Vocabulary.from_counts(m for p in patients for v in p.visits for m in v.medications)
    adj = ehr_adjacency(patients, vocab)
    np.testing.assert_array_equal(adj, adj.T)
    assert set(np.unique(adj)) <= {0.0, 1.0}
    assert not adj.diagonal().any()
    assert adj.sum() > 0


def test_ddi_adjacency_ignores_classes_outside_vocab() -> None:
    table = DdiTable.from_pairs(
        [DdiPair("A01A", "N02B"), DdiPair("B01A", "C07A"), DdiPair("A01A", "Z99Z")], name="t"
    )
    adj = ddi_adjacency(table, VOCAB)
    assert adj.dtype == np.float32
    assert adj.sum() == 4
    assert adj[0, 3] == adj[3, 0] == adj[1, 2] == adj[2, 1] == 1


def test_edge_index() -> None:
    adj = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32)
    ei = edge_index(adj)
    assert ei.dtype == np.int64
    assert ei.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert edge_index(np.zeros((3, 3))).shape == (2, 0)
    with pytest.raises(ValueError):
        edge_index(np.zeros((2, 3)))


@pytest.mark.data
def test_real_ddi_graph(shared_data: Path) -> None:
    table = read_ddi_csv(shared_data / "ddi" / "atc3_ddi_twosides.csv")
    vocab = Vocabulary(table.classes())
    adj = ddi_adjacency(table, vocab)
    np.testing.assert_array_equal(adj, adj.T)
    assert adj.sum() == 2 * 467
    assert edge_index(adj).shape == (2, 2 * 467)
