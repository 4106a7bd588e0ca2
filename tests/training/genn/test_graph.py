from pathlib import Path

import numpy as np
import pytest

from app.contract.errors import InputFileError
from tests.training.genn.factories import write_tiny_ddi
from training.genn.graph import (
    decagon_split,
    random_projection_features,
    read_split_ranks,
    table_split,
)
from training.genn.pairs import read_typed_pairs


def test_random_projection_matches_genn_recipe() -> None:
    x = random_projection_features(5, seed=1, dim=4)
    rng = np.random.RandomState(1)  # GENN: np.random.seed(seed) then the projection's draw
    expected = rng.normal(0.0, 0.5, size=(4, 5)).T
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert x.dtype == np.float32
    assert not np.allclose(x, random_projection_features(5, seed=2, dim=4))


def test_decagon_split_follows_ranks() -> None:
    ranks = np.stack([np.arange(100)[::-1]] * 3, axis=1)  # edge 99 first
    from training.genn.pairs import TypedPairs

    tp = TypedPairs(
        "t",
        "0" * 64,
        tuple(str(i) for i in range(101)),
        ("0",),
        np.stack([np.arange(100), np.arange(1, 101)], axis=1),
        np.ones((100, 1), np.float32),
    )
    split = decagon_split(tp, ranks, seed=1, data_ratio=50)
    assert (len(split.train_pairs), len(split.val_pairs), len(split.test_pairs)) == (40, 5, 5)
    np.testing.assert_array_equal(split.train_pairs[0], [99, 100])
    np.testing.assert_array_equal(split.test_pairs[-1], [50, 51])
    with pytest.raises(ValueError, match="seed must be 1, 2 or 3"):
        decagon_split(tp, ranks, seed=4)


def test_table_split_adds_unlabelled_negatives(tmp_path: Path) -> None:
    pairs = read_typed_pairs(write_tiny_ddi(tmp_path / "ddi.csv", n_pairs=20))
    split = table_split(pairs, seed=0, negative_ratio=1.0)
    all_pairs = np.concatenate([split.train_pairs, split.val_pairs, split.test_pairs])
    labels = np.concatenate([split.train_labels, split.val_labels, split.test_labels])
    assert len(all_pairs) == 40
    assert (labels.sum(axis=1) == 0).sum() == 20
    assert len({tuple(p) for p in all_pairs}) == 40  # negatives are not known pairs
    assert (all_pairs[:, 0] < all_pairs[:, 1]).all()
    again = table_split(pairs, seed=0, negative_ratio=1.0)
    np.testing.assert_array_equal(split.test_pairs, again.test_pairs)


def test_ranks_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "ranks.csv"
    path.write_text("edge_id,rank_seed1,rank_seed2,rank_seed3\n0,1,1,1\n")
    with pytest.raises(InputFileError, match="all 2 edges"):
        read_split_ranks(path, 2)
    path.write_text("edge_id,rank_seed1,rank_seed2,rank_seed3\n0,x,1,1\n")
    with pytest.raises(InputFileError, match="row 1"):
        read_split_ranks(path, 1)


@pytest.mark.data
def test_decagon_split_reproduces_genn(shared_data: Path) -> None:
    folder = shared_data / "ddi" / "decagon"
    pairs = read_typed_pairs(folder / "pairs.csv")
    ranks = read_split_ranks(folder / "genn_split_ranks.csv", len(pairs.pairs))
    assert pairs.describe()["drugs"] == 637 and len(pairs.types) == 200
    for seed in (1, 2, 3):
        split = decagon_split(pairs, ranks, seed=seed, data_ratio=10)
        sizes = (len(split.train_pairs), len(split.val_pairs), len(split.test_pairs))
        assert sizes == (3697, 462, 463)
        assert split.x.shape == (637, 32)
        # The ranks are GENN's RandomState stream: seed, the 32x637 projection draw, permutation.
        rng = np.random.RandomState(seed)
        rng.normal(size=(32, 637))
        perm = rng.permutation(46221)[:4622]
        np.testing.assert_array_equal(split.train_pairs, pairs.pairs[perm[:3697]])
        np.testing.assert_array_equal(split.test_labels, pairs.labels[perm[4159:]])
