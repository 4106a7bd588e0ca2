"""Tiny typed DDI tables and GENN runs for tests (synthetic, no real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.genn.config import OptimConfig, TrainConfig
from training.genn.run import train

TYPES = ("bleeding", "qt_prolongation", "serotonin")


def tiny_atc3(n: int = 12) -> list[str]:
    """ATC3-looking class names, sorted."""
    return sorted(f"{chr(ord('A') + i % 4)}{10 + i:02d}{chr(ord('A') + i % 3)}" for i in range(n))


def write_tiny_ddi(path: Path, *, n_drugs: int = 12, n_pairs: int = 30, seed: int = 0) -> Path:
    """Write an ``atc3_a,atc3_b,types,severity,source`` CSV with correlated types."""
    rng = np.random.default_rng(seed)
    drugs = tiny_atc3(n_drugs)
    seen: set[tuple[str, str]] = set()
    lines = ["atc3_a,atc3_b,types,severity,source"]
    while len(seen) < n_pairs:
        a, b = sorted(rng.choice(drugs, size=2, replace=False).tolist())
        if (a, b) in seen:
            continue
        seen.add((a, b))
        types = [TYPES[0]] if rng.random() < 0.6 else [TYPES[1]]
        if types == [TYPES[0]] and rng.random() < 0.5:
            types.append(TYPES[2])  # serotonin only with bleeding: a type correlation
        lines.append(f"{a},{b},{';'.join(types)},moderate,test")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_fake_decagon(folder: Path, *, n_edges: int = 60, features: int = 0) -> Path:
    """Write a Decagon-shaped folder on 15 drugs: pairs.csv, genn_split_ranks.csv, drugs.csv.

    ``drugs.csv`` has ``node_index,degree`` and, with ``features``, columns ``f0..``: drug
    ``i``'s feature ``j`` is ``i + j / 10``, listed in reverse node order.
    """
    rng = np.random.default_rng(0)
    folder.mkdir()
    seen: set[tuple[int, int]] = set()
    lines = ["edge_id,drug_a,drug_b,types"]
    while len(seen) < n_edges:
        a, b = sorted(rng.choice(15, size=2, replace=False).tolist())
        if (a, b) not in seen:
            seen.add((a, b))
            types = "0;2" if rng.random() < 0.5 else "1"
            lines.append(f"{len(seen) - 1},{a},{b},{types}")
    (folder / "pairs.csv").write_text("\n".join(lines) + "\n")
    ranks = [rng.permutation(n_edges) for _ in range(3)]
    rows = ["edge_id,rank_seed1,rank_seed2,rank_seed3"]
    rows += [f"{e},{ranks[0][e]},{ranks[1][e]},{ranks[2][e]}" for e in range(n_edges)]
    (folder / "genn_split_ranks.csv").write_text("\n".join(rows) + "\n")
    header = ",".join(["node_index", "degree", *(f"f{j}" for j in range(features))])
    drugs = [header]
    for i in reversed(range(15)):
        degree = sum(i in pair for pair in seen)
        drugs.append(",".join([str(i), str(degree), *(f"{i + j / 10}" for j in range(features))]))
    (folder / "drugs.csv").write_text("\n".join(drugs) + "\n")
    return folder


def tiny_run(tmp: Path, *, epochs: int = 3) -> Path:
    """Train a tiny GENN run in ``tmp/run`` and return its directory."""
    ddi = write_tiny_ddi(tmp / "ddi.csv")
    optim = OptimConfig(mlp_epochs=epochs, pretrain_epochs=epochs, genn_epochs=epochs, patience=2)
    config = TrainConfig(seed=0, hidden=8, synthetic=True, train=optim)
    train(ddi, tmp / "run", config)
    return tmp / "run"
