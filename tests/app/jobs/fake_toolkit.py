"""Toolkits for job tests: no torch, tiny ONNX artifacts from ``tests.app.factories``.

``FakeToolkit`` trains nothing: ``export`` writes the factories' tiny recommender with the
``seed``/``bias`` found in the job params (``bias=-10`` predicts nothing: a deliberately worse
candidate), and the held-out truth is what the artifact at ``params["truth"]`` predicts (its path
travels with the candidate), so that artifact scores a perfect Jaccard. ``SlowToolkit`` also
sleeps per epoch, for the crash test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.errors import JobInputError
from app.contract.jobs import EpochCallback, HeldOut
from app.contract.visits import RawVisit
from app.jobs.evaluation import load_recommender, score_patients
from tests.app.factories import DIAG, MEDS, PROC, write_recommender_artifact
from training.metrics import bootstrap_metrics, recommendation_metrics

THRESHOLD = 0.3
TRUTH_FILE = "truth.txt"  # the candidate's held-out truth: the artifact params["truth"] names


def held_out_patients() -> list[list[RawVisit]]:
    """Six two-visit patients over the factories' vocabulary."""
    patients = []
    for p in range(6):
        visits = [
            RawVisit(
                [tuple(DIAG[(p + v) % len(DIAG)]), tuple(DIAG[(p + 2 * v + 1) % len(DIAG)])],
                [tuple(PROC[(p + v) % len(PROC)])],
                [MEDS[(p + v) % len(MEDS)]],
            )
            for v in range(2)
        ]
        patients.append(visits)
    return patients


class FakeToolkit:
    """Job steps without training (see the module docstring)."""

    epoch_seconds = 0.0

    def ingest(
        self, fmt: str, input_dir: Path, out_dir: Path, options: dict[str, Any]
    ) -> dict[str, Any]:
        if not (input_dir / "export.csv").is_file():
            raise JobInputError("export.csv: missing table (fake reader)")
        out_dir.mkdir(parents=True)
        return {"patients": 6, "visits": 12}

    def train(
        self,
        model: str,
        dataset_dir: Path,
        run_dir: Path,
        params: dict[str, Any],
        ddi_path: Path | None,
        on_epoch: EpochCallback,
    ) -> dict[str, Any]:
        run_dir.mkdir(parents=True)
        (run_dir / "fake.json").write_text(json.dumps({**params.get("fake", {}), **_truth(params)}))
        epochs = int(params.get("epochs", 1))
        for epoch in range(1, epochs + 1):
            time.sleep(self.epoch_seconds)
            on_epoch(epoch, epochs, {"jaccard": 0.1 * epoch, "ddi_rate": 0.0})
        return {}

    def export(self, run_dir: Path, artifact_dir: Path, version: int) -> None:
        fake = _params_of(run_dir)
        write_recommender_artifact(
            artifact_dir, version=version, seed=fake.get("seed", 0), bias=fake.get("bias", 0.0)
        )
        (artifact_dir / TRUTH_FILE).write_text(fake.get("truth", ""))

    def held_out(self, dataset_dir: Path, artifact_dir: Path, ddi_path: Path | None) -> HeldOut:
        patients = held_out_patients()
        truth = load_recommender(Path((artifact_dir / TRUTH_FILE).read_text()))
        y_true = [p >= THRESHOLD for p in score_patients(truth, patients, MEDS)]
        return HeldOut(patients, MEDS, y_true, np.zeros((5, 5), np.float32), THRESHOLD, 0)

    def metrics(self, held: HeldOut, y_prob: list[np.ndarray]) -> dict[str, Any]:
        kw: dict[str, Any] = {"threshold": held.threshold, "ddi_adj": held.ddi_adj}
        return {
            "point": recommendation_metrics(held.y_true, y_prob, **kw),
            "bootstrap": bootstrap_metrics(held.y_true, y_prob, **kw),
        }


class SlowToolkit(FakeToolkit):
    """One second per epoch: slow enough to kill the worker mid-job."""

    epoch_seconds = 1.0


def _truth(params: dict[str, Any]) -> dict[str, Any]:
    return {"truth": params["truth"]} if "truth" in params else {}


def _params_of(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "fake.json"
    return json.loads(path.read_text()) if path.is_file() else {}
