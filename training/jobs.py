"""The training side of a training job: ingest, train, export and score, for ``app.jobs``.

The service's job worker builds :class:`Toolkit` by name (the ``job_toolkit`` setting, default
``training.jobs:Toolkit``) in its own process; the protocol it implements is
``app.contract.jobs.Toolkit``. :data:`TRAINERS` holds one trainer per job model
(``app.contract.jobs.JOB_MODELS``); every other step is the same for every recommender.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from app.contract.artifact import MANIFEST_FILE
from app.contract.errors import JobInputError
from app.contract.jobs import EpochCallback, HeldOut
from app.contract.manifest import Manifest
from app.contract.visits import RawVisit

logger = logging.getLogger(__name__)
Config = TypeVar("Config")
Trainer = Callable[[Path, Path, dict[str, Any], Path | None, EpochCallback], dict[str, Any]]


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


def _config(cls: Callable[..., Config], params: dict[str, Any], **fixed: Any) -> Config:
    """A run config from the job's params that name its fields (``reader`` does not), + ``fixed``.

    Raises:
        JobInputError: a value the config refuses.
    """
    names = (f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    values = {k: params[k] for k in names if params.get(k) is not None}
    try:
        return cls(**{**values, **fixed})
    except ValueError as exc:
        raise JobInputError(str(exc)) from None


def _input_error(exc: ValueError, dataset_dir: Path) -> JobInputError:
    """A trainer's refusal of the data (e.g. an empty split part), without the server path."""
    return JobInputError(str(exc).replace(f"{dataset_dir}", "dataset"))


def train_gamenet(
    dataset_dir: Path,
    run_dir: Path,
    params: dict[str, Any],
    ddi_path: Path | None,
    on_epoch: EpochCallback,
) -> dict[str, Any]:
    """Train GAMENet, reporting each epoch through ``on_epoch``."""
    from training.gamenet.config import TrainConfig
    from training.gamenet.run import train

    config = _config(TrainConfig, params)
    try:
        metrics: dict[str, Any] = train(
            dataset_dir,
            run_dir,
            config,
            on_epoch=on_epoch,
            ddi_path=ddi_path,
            show_progress=False,
        )
    except ValueError as exc:
        raise _input_error(exc, dataset_dir) from None
    return metrics


class StagedEpochs:
    """One epoch count over the stages of a job: stage ``i`` counts after stages ``0..i-1``.

    Each stage is weighted by its planned epochs; a stage that stops early (patience) leaves its
    remaining epochs uncounted until the next stage starts after them.
    """

    def __init__(self, on_epoch: EpochCallback, epochs: Sequence[int]) -> None:
        self.on_epoch = on_epoch
        self.epochs = list(epochs)
        self.total = sum(self.epochs)

    def stage(self, index: int) -> EpochCallback:
        """The ``on_epoch`` of stage ``index``: its own calls, counted in the job's epochs."""
        offset, planned, seen = sum(self.epochs[:index]), self.epochs[index], [0]

        def on_epoch(epoch: int, epochs: int, val: dict[str, float]) -> None:
            seen[0] += 1
            self.on_epoch(offset + min(seen[0], planned), self.total, val)

        return on_epoch


def gbert_stages(params: dict[str, Any]) -> list[Any]:
    """The three G-BERT stage configs of a job: ``pretrain``, ``dha``, ``finetune``.

    ``pretrain_epochs`` and ``dha_epochs`` (continued pre-training after the DHA conversion)
    default to the stage's own default; ``epochs`` is the fine-tuning epochs. Every other
    parameter (``lr``, ``batch_size``, ``seed``, ``split``, ...) applies to each stage.
    """
    from training.gbert.config import TrainConfig

    default = TrainConfig().epochs
    plan = (
        ("pretrain", params.get("pretrain_epochs") or default),
        ("dha", params.get("dha_epochs") or default),
        ("finetune", params.get("epochs") or default),
    )
    return [_config(TrainConfig, params, stage=stage, epochs=epochs) for stage, epochs in plan]


def _stage_epochs(config: Any) -> int:
    """Epochs a G-BERT stage reports: DHA's heads fusion reports its epochs too."""
    fusion = config.fusion_epochs if config.stage == "dha" and config.dha_method == "dha" else 0
    return int(config.epochs) + int(fusion)


def train_gbert(
    dataset_dir: Path,
    run_dir: Path,
    params: dict[str, Any],
    ddi_path: Path | None,
    on_epoch: EpochCallback,
) -> dict[str, Any]:
    """Pre-train, convert to DHA, then fine-tune G-BERT; ``run_dir`` is the fine-tuned run.

    The earlier stages' runs are kept under ``run_dir/stages/``; each stage starts from the one
    before it. Progress counts the epochs of all three stages.
    """
    from training.gbert.run import train

    stages = gbert_stages(params)
    progress = StagedEpochs(on_epoch, [_stage_epochs(c) for c in stages])
    init: Path | None = None
    metrics: dict[str, Any] = {}
    for index, config in enumerate(stages):
        out = run_dir if config.stage == "finetune" else run_dir / "stages" / config.stage
        logger.info(
            "G-BERT stage %d/%d: %s (%d epochs)",
            index + 1,
            len(stages),
            config.stage,
            _stage_epochs(config),
        )
        try:
            metrics = train(
                dataset_dir,
                out,
                config,
                on_epoch=progress.stage(index),
                init_dir=init,
                ddi_path=ddi_path,  # the dataset's own ddi.csv first, as every trainer reads it
                show_progress=False,
            )
        except ValueError as exc:
            raise _input_error(exc, dataset_dir) from None
        init = out
    return metrics


def train_ensemble(
    dataset_dir: Path,
    run_dir: Path,
    params: dict[str, Any],
    ddi_path: Path | None,
    on_epoch: EpochCallback,
) -> dict[str, Any]:
    """Train GAMENet, then fit its calibrated, pattern-weighted mix with the logistic regression.

    The GAMENet member is a run of its own under ``run_dir/members/gamenet`` (``params`` are its
    training parameters; ``seed`` seeds the mix too); ``run_dir`` is the ensemble run. Progress
    counts GAMENet's epochs, then one step for the fit.
    """
    from training.ensemble.config import TrainConfig as EnsembleConfig
    from training.ensemble.run import train
    from training.gamenet.config import TrainConfig as GamenetConfig

    member = run_dir / "members" / "gamenet"
    progress = StagedEpochs(on_epoch, [_config(GamenetConfig, params).epochs, 1])
    train_gamenet(dataset_dir, member, params, ddi_path, progress.stage(0))
    logger.info("ensemble: fitting the mix of GAMENet and the logistic regression")
    try:
        metrics: dict[str, Any] = train(
            dataset_dir, [member], run_dir, EnsembleConfig(seed=int(params.get("seed", 0)))
        )
    except ValueError as exc:
        raise _input_error(exc, dataset_dir) from None
    val = metrics["rows"]["per-pattern weights"]["val_point"]
    progress.stage(1)(1, 1, {k: float(v) for k, v in val.items()})
    return metrics


TRAINERS: dict[str, Trainer] = {
    "gamenet": train_gamenet,
    "gbert": train_gbert,
    "ensemble": train_ensemble,
}
"""One trainer per ``app.contract.jobs.JOB_MODELS``."""


def _split_config(record: dict[str, Any]) -> Any:
    """The split config of a manifest's ``dataset.split`` record (``Split.describe()``)."""
    from training.data.splits import SplitConfig

    if record.get("method") == "random":
        return SplitConfig("random", int(record["seed"]), tuple(record["ratios"]))
    return SplitConfig("literature")


class Toolkit:
    """The job steps for every job model (see :class:`app.contract.jobs.Toolkit`)."""

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

    def train(
        self,
        model: str,
        dataset_dir: Path,
        run_dir: Path,
        params: dict[str, Any],
        ddi_path: Path | None,
        on_epoch: EpochCallback,
    ) -> dict[str, Any]:
        """Train ``model`` with its trainer from :data:`TRAINERS`.

        Raises:
            JobInputError: no trainer for ``model``, or the trainer refused the data.
        """
        trainer = TRAINERS.get(model)
        if trainer is None:
            raise JobInputError(f"model {model!r}: no trainer in this build")
        return trainer(dataset_dir, run_dir, params, ddi_path, on_epoch)

    def export(self, run_dir: Path, artifact_dir: Path, version: int) -> None:
        """Export ONNX + manifest (parity-checked) as ``version``."""
        from training.export.runner import export_run

        export_run(run_dir, artifact_dir, version=version)

    def held_out(self, dataset_dir: Path, artifact_dir: Path, ddi_path: Path | None) -> HeldOut:
        """The candidate's test split, rebuilt from its manifest (any recommender).

        Every visit of every test patient is kept (a first visit has no history), with the true
        medications as columns of the candidate's vocabulary (others dropped), the DDI graph of
        the dataset's own table (else ``ddi_path``), the candidate's threshold and seed.

        Raises:
            RuntimeError: the rebuilt test patients are not those the candidate's manifest names.
        """
        from training.data.dataset import Dataset
        from training.data.splits import split_patients
        from training.data.vocab import Vocabulary
        from training.gamenet.data import resolve_ddi_table
        from training.graphs import ddi_adjacency

        manifest = Manifest.model_validate_json((artifact_dir / MANIFEST_FILE).read_text())
        record = manifest.dataset.split
        split = split_patients(Dataset(dataset_dir).load(), _split_config(record))
        digest = split.describe()["patient_ids_sha256"]["test"]
        if digest != record.get("patient_ids_sha256", {}).get("test"):
            raise RuntimeError("the rebuilt test split differs from the candidate's")
        meds = [str(m) for m in manifest.vocab["med"]]
        column = {m: i for i, m in enumerate(meds)}
        patients, y_true = [], []
        for patient in split.test:
            y = np.zeros((len(patient.visits), len(meds)), dtype=bool)
            for t, visit in enumerate(patient.visits):
                y[t, [column[m] for m in visit.medications if m in column]] = True
            y_true.append(y)
            patients.append(
                [
                    RawVisit(
                        [(c.system, c.code) for c in v.diagnoses],
                        [(c.system, c.code) for c in v.procedures],
                        list(v.medications),
                    )
                    for v in patient.visits
                ]
            )
        table = resolve_ddi_table(dataset_dir, ddi_path)
        ddi_adj = ddi_adjacency(table, Vocabulary(tuple(meds)))
        seed = int(manifest.training.get("seed", 0))
        return HeldOut(patients, meds, y_true, ddi_adj, manifest.threshold, seed)

    def metrics(self, held: HeldOut, y_prob: list[np.ndarray]) -> dict[str, Any]:
        """Point metrics on the whole split and the bootstrap mean ± std."""
        from training.metrics import bootstrap_metrics, recommendation_metrics

        kw: dict[str, Any] = {"threshold": held.threshold, "ddi_adj": held.ddi_adj}
        return {
            "point": recommendation_metrics(held.y_true, y_prob, **kw),
            "bootstrap": bootstrap_metrics(held.y_true, y_prob, seed=held.seed, **kw),
        }
