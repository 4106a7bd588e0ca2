from pathlib import Path

import numpy as np
import pytest

from app.contract.errors import InputFileError
from tests.training.genn.factories import write_fake_decagon, write_tiny_ddi
from training.genn.graph import (
    decagon_split,
    load_decagon,
    random_projection_features,
    read_node_features,
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


def test_load_decagon_uses_the_sets_features_as_they_are(tmp_path: Path) -> None:
    split = load_decagon(write_fake_decagon(tmp_path / "d", features=4), seed=2, data_ratio=100)
    assert split.x.shape == (15, 4) and split.x.dtype == np.float32
    expected = np.arange(15)[:, None] + np.arange(4)[None, :] / 10  # rows were in reverse order
    np.testing.assert_allclose(split.x, expected, rtol=1e-6)
    assert split.describe()["node_features"] == {"kind": "provided", "file": "drugs.csv", "dim": 4}


def test_load_decagon_without_features_projects_one_hot_ids(tmp_path: Path) -> None:
    split = load_decagon(write_fake_decagon(tmp_path / "d"), seed=2, data_ratio=100)
    np.testing.assert_array_equal(split.x, random_projection_features(15, seed=2))
    info = split.describe()["node_features"]
    assert info["kind"] == "random-projection" and info["dim"] == 32 and info["seed"] == 2
    assert info["note"].startswith("drugs.csv has no f-columns")


def test_node_feature_rows_follow_the_drug_names(tmp_path: Path) -> None:
    path = tmp_path / "drugs.csv"
    path.write_text("drug,f1,f0\nb,1,2\nzz,9,9\na,3,4\n")  # zz: in no pair, ignored
    np.testing.assert_array_equal(read_node_features(path, ("a", "b")), [[4, 3], [2, 1]])
    path.write_text("node_index,degree\n0,1\n")
    assert read_node_features(path, ("0",)) is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("drug,f0,f2\na,1,2\n", "f0..f"),
        ("name,f0\na,1\n", "node_index or drug"),
        ("drug,f0\na,x\n", "row 1, column 'f0': not a number"),
        ("drug,f0\na,nan\n", "row 1, column 'f0': not a finite number"),
        ("drug,f0\na,1\na,2\n", "row 2, column 'drug': drug listed twice"),
        ("drug,f0\na,1\n", "no row for 1 of the 2 drugs"),
        ("drug,f0\na,1,2\n", "row 1: expected 2 cells"),
    ],
)
def test_node_feature_errors_name_file_row_and_column(
    tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "drugs.csv"
    path.write_text(text)
    with pytest.raises(InputFileError, match=match) as err:
        read_node_features(path, ("a", "b"))
    assert str(path) in str(err.value)


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
        split = decagon_split(
            pairs, ranks, seed=seed, data_ratio=10, drugs_csv=folder / "drugs.csv"
        )
        sizes = (len(split.train_pairs), len(split.val_pairs), len(split.test_pairs))
        assert sizes == (3697, 462, 463)
        assert split.x.shape == (637, 32)  # drugs.csv has no f-columns: GENN's projection
        assert split.describe()["node_features"]["kind"] == "random-projection"
        # The ranks are GENN's RandomState stream: seed, the 32x637 projection draw, permutation.
        rng = np.random.RandomState(seed)
        rng.normal(size=(32, 637))
        perm = rng.permutation(46221)[:4622]
        np.testing.assert_array_equal(split.train_pairs, pairs.pairs[perm[:3697]])
        np.testing.assert_array_equal(split.test_labels, pairs.labels[perm[4159:]])
