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


def tiny_run(tmp: Path, *, epochs: int = 3) -> Path:
    """Train a tiny GENN run in ``tmp/run`` and return its directory."""
    ddi = write_tiny_ddi(tmp / "ddi.csv")
    optim = OptimConfig(mlp_epochs=epochs, pretrain_epochs=epochs, genn_epochs=epochs, patience=2)
    config = TrainConfig(seed=0, hidden=8, synthetic=True, train=optim)
    train(ddi, tmp / "run", config)
    return tmp / "run"
