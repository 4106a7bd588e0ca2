"""The training-job protocol: what a job's toolkit does, step by step, for the job runner.

The service's job worker (``app.jobs``) builds the toolkit named by the setting ``job_toolkit``
(``training.jobs:Toolkit`` by default) in its own process, so the service never imports training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np

from app.contract.visits import RawVisit

JobModel = Literal["gamenet", "gbert", "ensemble"]
"""The models a training job trains: each has a trainer in ``training.jobs.TRAINERS``.

An ``ensemble`` job is refused by name until its trainer exists: add ``"ensemble"`` here and its
trainer to ``training.jobs.TRAINERS`` (a test keeps the two the same).
"""
JOB_MODELS: tuple[JobModel, ...] = get_args(JobModel)

EpochCallback = Callable[[int, int, dict[str, float]], None]
"""``on_epoch(epoch, epochs, val_metrics)``: called after each epoch's validation."""


@dataclass(frozen=True)
class HeldOut:
    """The candidate's held-out (test) split, ready for scoring by any artifact."""

    patients: Sequence[Sequence[RawVisit]]
    meds: Sequence[str]
    y_true: list[np.ndarray]
    ddi_adj: np.ndarray
    threshold: float
    seed: int


class Toolkit(Protocol):
    """The training-side steps a job runs (``training.jobs.Toolkit``; tests supply fakes)."""

    def ingest(
        self, fmt: str, input_dir: Path, out_dir: Path, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Read the export into a dataset at ``out_dir``; return its summary (counts, filters)."""

    def train(
        self,
        model: str,
        dataset_dir: Path,
        run_dir: Path,
        params: dict[str, Any],
        ddi_path: Path | None,
        on_epoch: EpochCallback,
    ) -> dict[str, Any]:
        """Train ``model`` into ``run_dir`` (exportable); report progress through ``on_epoch``.

        ``on_epoch(epoch, epochs, val_metrics)`` counts the epochs of the whole job: a model
        trained in stages counts each stage's epochs after those of the stages before it.
        """

    def export(self, run_dir: Path, artifact_dir: Path, version: int) -> None:
        """Export the run as an artifact of ``version``."""

    def held_out(self, dataset_dir: Path, artifact_dir: Path, ddi_path: Path | None) -> HeldOut:
        """The test split of the candidate in ``artifact_dir``, whatever its model.

        The split is rebuilt from the candidate manifest's split record (and checked against its
        patient digest); columns follow the candidate's medication vocabulary, at its threshold.
        """

    def metrics(self, held: HeldOut, y_prob: list[np.ndarray]) -> dict[str, Any]:
        """``{"point": {...}, "bootstrap": {key: {"mean", "std"}}}`` on ``held``."""
