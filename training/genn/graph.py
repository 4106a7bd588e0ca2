"""Node features and edge splits for GENN.

Two ways to split :class:`~training.genn.pairs.TypedPairs` into train/val/test pairs:

- :func:`decagon_split` rebuilds GENN's own split of the Decagon graph from the edge ranks that
  ``genn_split_ranks.csv`` stores (see ``shared/data/ddi/decagon/README.md``);
- :func:`table_split` splits a service DDI table at random and adds sampled *non-interacting*
  pairs with an all-zero label, so that a served ``predicted_risk`` can be low. GENN itself only
  ever scores known interacting pairs (its risk would be ~1 for every pair).

Node features are those a set provides (``drugs.csv`` columns ``f0, f1, ...``, used as they are,
as GENN uses DeepDDI's 50-d features). A set without them (Decagon ships the identity) gets what
GENN's loader makes of the identity: a 32-d Gaussian random projection of one-hot drug ids, seeded.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.errors import InputFileError
from training.genn.pairs import TypedPairs, read_typed_pairs


def random_projection_features(num_nodes: int, seed: int, dim: int = 32) -> np.ndarray:
    """Return ``[N, dim]`` float32 features: one-hot ids times a seeded Gaussian matrix.

    Reproduces GENN's ``GaussianRandomProjection(n_components=32)`` fitted right after
    ``np.random.seed(seed)``: the projection of the identity is the transposed random matrix,
    drawn from ``N(0, 1/dim)`` with NumPy's legacy ``RandomState``.
    """
    rng = np.random.RandomState(seed)
    components = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(dim, num_nodes))  # [dim, N]
    return np.ascontiguousarray(components.T, dtype=np.float32)  # [N, dim]


_FEATURE_COLUMN = re.compile(r"f(\d+)")
_DRUG_KEYS = ("node_index", "drug")
PROJECTION_NOTE = (
    "a seeded 32-d Gaussian random projection of one-hot drug ids, which is what GENN's loader "
    "makes of identity features (Decagon)"
)


def read_node_features(path: Path, drugs: tuple[str, ...]) -> np.ndarray | None:
    """Read ``drugs.csv``'s feature columns ``f0..f{k-1}``: ``[N, k]`` float32 in ``drugs`` order.

    Rows are matched to drugs by the ``node_index`` (or ``drug``) column; rows of drugs that no
    pair mentions are ignored. Returns ``None`` when the file has no ``f``-columns.

    Raises:
        InputFileError: no key column, f-columns that are not ``f0..f{k-1}``, a non-numeric or
            non-finite cell, a drug listed twice, or a drug of the pairs without a row.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        numbered = sorted(int(m[1]) for h in header if (m := _FEATURE_COLUMN.fullmatch(h)))
        if not numbered:
            return None
        if numbered != list(range(len(numbered))):
            raise InputFileError(path, "feature columns must be f0..f{k-1}, none missing", row=0)
        key = next((k for k in _DRUG_KEYS if k in header), None)
        if key is None:
            raise InputFileError(path, "missing column (expected node_index or drug)", row=0)
        ik, cols = header.index(key), [header.index(f"f{i}") for i in numbered]
        index = {d: i for i, d in enumerate(drugs)}
        x = np.full((len(drugs), len(cols)), np.nan, dtype=np.float32)
        for row, cells in enumerate(reader, start=1):
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise InputFileError(
                    path, f"expected {len(header)} cells, got {len(cells)}", row=row
                )
            i = index.get(cells[ik].strip())
            if i is None:
                continue
            if not np.isnan(x[i]).all():
                raise InputFileError(path, "drug listed twice", row=row, column=key)
            for j, c in enumerate(cols):
                try:
                    x[i, j] = value = float(cells[c])
                except ValueError:
                    raise InputFileError(path, "not a number", row=row, column=header[c]) from None
                if not np.isfinite(value):
                    raise InputFileError(path, "not a finite number", row=row, column=header[c])
    missing = int(np.isnan(x).any(axis=1).sum())
    if missing:
        raise InputFileError(path, f"no row for {missing} of the {len(drugs)} drugs in the pairs")
    return x


def node_features(
    drugs_csv: Path | None, drugs: tuple[str, ...], seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return the node features ``[N, F]`` and a description for run.json and reports.

    The set's own features (:func:`read_node_features`) when ``drugs_csv`` exists and has
    ``f``-columns; else :func:`random_projection_features` seeded by ``seed``.
    """
    reason = "no drugs.csv"
    if drugs_csv is not None and Path(drugs_csv).is_file():
        x = read_node_features(Path(drugs_csv), drugs)
        if x is not None:
            return x, {"kind": "provided", "file": Path(drugs_csv).name, "dim": int(x.shape[1])}
        reason = "drugs.csv has no f-columns"
    x = random_projection_features(len(drugs), seed)
    info = {"kind": "random-projection", "dim": int(x.shape[1]), "seed": seed}
    return x, {**info, "note": f"{reason}: {PROJECTION_NOTE}"}


@dataclass(frozen=True)
class GraphSplit:
    """Node features and the train/val/test pairs with their labels (numpy, ready for tensors).

    Encoder edges are the train pairs that interact (any type); val/test labels are never
    shown to an encoder.
    """

    x: np.ndarray
    train_pairs: np.ndarray
    train_labels: np.ndarray
    val_pairs: np.ndarray
    val_labels: np.ndarray
    test_pairs: np.ndarray
    test_labels: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_types(self) -> int:
        """Number of interaction types T."""
        return int(self.train_labels.shape[1])

    def describe(self) -> dict[str, Any]:
        """Return the split's method, seed and sizes (for run.json and the manifest)."""
        return {
            **self.info,
            "nodes": int(self.x.shape[0]),
            "train": int(len(self.train_pairs)),
            "val": int(len(self.val_pairs)),
            "test": int(len(self.test_pairs)),
        }


def _from_parts(
    x: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]], info: dict[str, Any]
) -> GraphSplit:
    (trp, trl), (vap, val), (tep, tel) = parts
    return GraphSplit(x, trp, trl, vap, val, tep, tel, info=info)


def _cut(n: int, train_size: float, val_size: float) -> tuple[int, int]:
    # GENN's DDItest scripts: [:int(n*train_size)], [int(n*train_size):int(n*val_size)], rest.
    return int(n * train_size), int(n * val_size)


def read_split_ranks(path: Path, num_edges: int) -> np.ndarray:
    """Read ``genn_split_ranks.csv``: ``[E, 3]`` int64 ranks for seeds 1..3, by edge id."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if header[:4] != ["edge_id", "rank_seed1", "rank_seed2", "rank_seed3"]:
            raise InputFileError(path, "expected edge_id,rank_seed1,rank_seed2,rank_seed3", row=0)
        ranks = np.full((num_edges, 3), -1, dtype=np.int64)
        for row, cells in enumerate(reader, start=1):
            try:
                edge, *values = (int(c) for c in cells[:4])
            except ValueError:
                raise InputFileError(path, "not an integer", row=row) from None
            if not 0 <= edge < num_edges:
                raise InputFileError(path, "edge_id out of range", row=row, column="edge_id")
            ranks[edge] = values
    if (ranks < 0).any():
        raise InputFileError(path, f"expected ranks for all {num_edges} edges")
    return ranks


def decagon_split(
    pairs: TypedPairs,
    ranks: np.ndarray,
    *,
    seed: int,
    data_ratio: float = 10.0,
    train_size: float = 0.8,
    val_size: float = 0.9,
    drugs_csv: Path | None = None,
) -> GraphSplit:
    """Rebuild GENN's split: keep the first ``int(E*ratio/100)`` edges in rank order, then cut.

    Args:
        pairs: the Decagon pairs in edge-id order (``pairs.csv``).
        ranks: :func:`read_split_ranks` output.
        seed: 1, 2 or 3 (the seeds the ranks were drawn for); also seeds the node features.
        data_ratio: percentage of edges kept (GENN's default 10).
        train_size: fraction of the kept edges used for training (GENN's default 0.8).
        val_size: cumulative fraction up to the end of validation (GENN's default 0.9).
        drugs_csv: the set's ``drugs.csv``; its ``f``-columns are the node features if present
            (:func:`node_features`).
    """
    if seed not in (1, 2, 3):
        raise ValueError(f"decagon_split: seed must be 1, 2 or 3, got {seed}")
    rank = ranks[:, seed - 1]
    n = int(len(rank) * data_ratio / 100)
    order = np.argsort(rank)[:n]  # edge ids in GENN's permuted order
    n_train, n_val = _cut(n, train_size, val_size)
    parts = np.split(order, [n_train, n_val])
    x, features = node_features(drugs_csv, pairs.drugs, seed)
    return _from_parts(
        x,
        [(pairs.pairs[part], pairs.labels[part]) for part in parts],
        {
            "method": "genn-decagon",
            "seed": seed,
            "data_ratio": data_ratio,
            "train_size": train_size,
            "val_size": val_size,
            "node_features": features,
        },
    )


def load_decagon(folder: Path, *, seed: int, data_ratio: float = 10.0) -> GraphSplit:
    """Rebuild GENN's split from ``folder``: pairs, split ranks and ``drugs.csv`` (if any)."""
    folder = Path(folder)
    pairs = read_typed_pairs(folder / "pairs.csv")
    ranks = read_split_ranks(folder / "genn_split_ranks.csv", len(pairs.pairs))
    return decagon_split(
        pairs, ranks, seed=seed, data_ratio=data_ratio, drugs_csv=folder / "drugs.csv"
    )


def table_split(
    pairs: TypedPairs,
    *,
    seed: int,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    negative_ratio: float = 1.0,
) -> GraphSplit:
    """Split a DDI table at random and add ``negative_ratio × P`` non-interacting pairs.

    Negatives are drawn uniformly from the pairs of known drugs absent from the table (capped
    by how many exist) and split with the same ratios; their label vector is all zero.
    """
    if not np.isclose(sum(ratios), 1.0):
        raise ValueError(f"table_split: ratios must sum to 1, got {ratios}")
    rng = np.random.default_rng(seed)
    n_drugs = len(pairs.drugs)
    known = {(int(a), int(b)) for a, b in pairs.pairs}
    candidates = np.array(
        [(a, b) for a in range(n_drugs) for b in range(a + 1, n_drugs) if (a, b) not in known],
        dtype=np.int64,
    ).reshape(-1, 2)
    n_neg = min(len(candidates), int(round(negative_ratio * len(pairs.pairs))))
    negatives = candidates[rng.permutation(len(candidates))[:n_neg]]
    t = len(pairs.types)

    def cut(arr: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        order = rng.permutation(len(arr))
        n_train, n_val = _cut(len(arr), ratios[0], ratios[0] + ratios[1])
        return [(arr[p], labels[p]) for p in np.split(order, [n_train, n_val])]

    pos = cut(pairs.pairs, pairs.labels)
    neg = cut(negatives, np.zeros((len(negatives), t), dtype=np.float32))
    parts = [
        (np.concatenate([p[0], q[0]]), np.concatenate([p[1], q[1]]))
        for p, q in zip(pos, neg, strict=True)
    ]
    x, features = node_features(None, pairs.drugs, seed)
    return _from_parts(
        x,
        parts,
        {
            "method": "random-pairs",
            "seed": seed,
            "ratios": list(ratios),
            "negative_ratio": negative_ratio,
            "negatives": int(n_neg),
            "node_features": features,
        },
    )
