"""A tiny dataset, a GAMENet run on it and an ensemble of that run with LR (no real data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.training.gamenet.conftest import make_dataset
from training.ensemble.config import TrainConfig
from training.ensemble.run import train
from training.gamenet.config import TrainConfig as GAMENetConfig
from training.gamenet.run import train as train_gamenet

QUICK = TrainConfig(bootstrap_rounds=2, min_support=5)


@dataclass(frozen=True)
class EnsembleRun:
    """Where the fixture's dataset, member run and ensemble run are."""

    data: Path
    gamenet: Path
    ensemble: Path


def make_ensemble_run(root: Path, patients: int = 90) -> EnsembleRun:
    """Train GAMENet for 2 epochs on a tiny dataset, then fit its ensemble with LR."""
    data = make_dataset(root, patients)
    gamenet = root / "gamenet"
    options = GAMENetConfig(epochs=2, bootstrap_rounds=2, batch_size=8)
    train_gamenet(data, gamenet, options, show_progress=False)
    ensemble = root / "ensemble"
    train(data, [gamenet], ensemble, QUICK)
    return EnsembleRun(data, gamenet, ensemble)
