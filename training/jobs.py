"""The training side of a training job: ingest, train, export and score, for ``app.jobs``.

The service's job worker builds :class:`Toolkit` by name (the ``job_toolkit`` setting, default
``training.jobs:Toolkit``) in its own process; the protocol it implements is
``app.contract.jobs.Toolkit``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.errors import JobInputError
from app.contract.jobs import EpochCallback, HeldOut

logger = logging.getLogger(__name__)


def _upload_paths(fmt: str, options: dict[str, Any], input_dir: Path) -> dict[str, Any]:
    """Resolve string path options as files inside the upload; anything else is left as given."""
    from training.data.ingest import reader_options

    types = reader_options(fmt)
    resolved = dict(options)
    for key, value in options.items():
        if isinstance(value, str) and "Path" in types.get(key, ""):
            path = (input_dir / value).resolve()
            if not path.is_relative_to(input_dir.resolve()) or not path.is_file():
                raise JobInputError(f"reader option {key!r}: no such file in the upload")
            resolved[key] = path
    return resolved


def _public(message: str, input_dir: Path) -> str:
    """``message`` without server paths: files are named relative to the upload."""
    return message.replace(f"{input_dir}/", "").replace(str(input_dir), "the upload")


class Toolkit:
    """The job steps for ``model = gamenet`` (see :class:`app.contract.jobs.Toolkit`)."""

    def ingest(
        self, fmt: str, input_dir: Path, out_dir: Path, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Ingest the upload with :func:`training.data.ingest.ingest`; return the data summary.

        Path options name files inside the upload (or, resolved by the worker, mapping files).
        """
        from training.data.ingest import ingest

        try:
            manifest = ingest(fmt, input_dir, out_dir, _upload_paths(fmt, options, input_dir))
        except (ValueError, FileNotFoundError) as exc:  # IngestError, InputFileError
            raise JobInputError(_public(str(exc), input_dir)) from None
        for note in manifest.notes:
            logger.warning("data: %s", note)
        return {
            "patients": manifest.patients,
            "visits": manifest.visits,
            "fingerprint": manifest.fingerprint,
            "filters": [dataclasses.asdict(f) for f in manifest.filters],
            "notes": manifest.notes,
        }

    def _train_config(self, params: dict[str, Any]) -> Any:
        """The run config from the job's params that name its fields (``reader`` does not)."""
        from training.gamenet.config import TrainConfig

        names = (f.name for f in dataclasses.fields(TrainConfig))
        values = {k: params[k] for k in names if params.get(k) is not None}
        try:
            return TrainConfig(**values)
        except ValueError as exc:
            raise JobInputError(str(exc)) from None

    def train(
        self,
        dataset_dir: Path,
        run_dir: Path,
        params: dict[str, Any],
        ddi_path: Path | None,
        on_epoch: EpochCallback,
    ) -> dict[str, Any]:
        """Train GAMENet, reporting each epoch through ``on_epoch``."""
        from training.gamenet.run import train

        config = self._train_config(params)
        try:
            metrics: dict[str, Any] = train(
                dataset_dir,
                run_dir,
                config,
                on_epoch=on_epoch,
                ddi_path=ddi_path,
                show_progress=False,
            )
        except ValueError as exc:  # e.g. an empty split part
            raise JobInputError(str(exc).replace(f"{dataset_dir}", "dataset")) from None
        return metrics

    def export(self, run_dir: Path, artifact_dir: Path, version: int) -> None:
        """Export ONNX + manifest (parity-checked) as ``version``."""
        from training.export.runner import export_run

        export_run(run_dir, artifact_dir, version=version)

    def held_out(self, dataset_dir: Path, params: dict[str, Any], ddi_path: Path | None) -> HeldOut:
        """The run's test split (same split config and seed as training)."""
        from app.contract.visits import RawVisit
        from training.data.splits import SplitConfig
        from training.gamenet.data import prepare_data
        from training.gamenet.steps import targets_of

        config = self._train_config(params)
        split = SplitConfig(method=config.split, seed=config.seed)
        data = prepare_data(dataset_dir, split, ddi_path)
        patients = [
            [
                RawVisit(
                    [(c.system, c.code) for c in v.diagnoses],
                    [(c.system, c.code) for c in v.procedures],
                    list(v.medications),
                )
                for v in p.visits
            ]
            for p in data.split.test
        ]
        meds = list(data.vocabs.med.tokens)
        y_true = targets_of(data.test, len(meds))
        return HeldOut(patients, meds, y_true, data.ddi_adj, config.threshold, config.seed)

    def metrics(self, held: HeldOut, y_prob: list[np.ndarray]) -> dict[str, Any]:
        """Point metrics on the whole split and the bootstrap mean ± std."""
        from training.metrics import bootstrap_metrics, recommendation_metrics

        kw: dict[str, Any] = {"threshold": held.threshold, "ddi_adj": held.ddi_adj}
        return {
            "point": recommendation_metrics(held.y_true, y_prob, **kw),
            "bootstrap": bootstrap_metrics(held.y_true, y_prob, seed=held.seed, **kw),
        }
