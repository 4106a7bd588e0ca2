"""The training side of a training job: ingest, train, export and score, for ``app.jobs``.

The service's job worker builds :class:`Toolkit` by name (the ``job_toolkit`` setting, default
``training.jobs:Toolkit``) in its own process; the protocol it implements is
``app.contract.jobs.Toolkit``.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.errors import JobInputError
from app.contract.jobs import EpochCallback, HeldOut

logger = logging.getLogger(__name__)

# format -> (module, reader function, config class or None)
READERS = {
    "mimic3": ("training.data.mimic3", "read_mimic3", "Mimic3Config"),
    "mimic4": ("training.data.mimic4", "read_mimic4", "Mimic4Config"),
    "omop": ("training.data.omop", "read_omop", "OmopConfig"),
    "synthea": ("training.data.synthea", "read_synthea", "SyntheaConfig"),
    "fhir": ("training.data.fhir", "read_fhir", "FhirConfig"),
    "benchmark-json": ("training.data.literature", "read_literature", None),
}


def _config(cls: Any, options: dict[str, Any], input_dir: Path, fmt: str) -> Any:
    """Build a reader config; path options are files of the upload (inside it) or mappings."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key not in names:
            raise JobInputError(f"reader option {key!r} is not known to the {fmt} reader")
        kind = str(names[key].type)
        if isinstance(value, str) and "Path" in kind:
            value = (input_dir / value).resolve()
            if not value.is_relative_to(input_dir.resolve()) or not value.is_file():
                raise JobInputError(f"reader option {key!r}: no such file in the upload")
        elif isinstance(value, dict) and callable(factory := names[key].default_factory):
            value = _config(type(factory()), value, input_dir, fmt)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise JobInputError(f"{fmt} reader options: {exc}") from None


def _empty_message(fmt: str, filters: list[Any]) -> str:
    steps = [
        f"{f.name} kept {f.rows_after} of {f.rows_before} rows"
        for f in filters
        if f.rows_after < f.rows_before
    ]
    first_empty = next((f.name for f in filters if f.rows_after == 0), None)
    where = f"; filter {first_empty} left no rows" if first_empty else ""
    return f"no patients left after filtering the {fmt} export{where}: " + (
        "; ".join(steps) or "no filter dropped rows (the export holds no usable visits)"
    )


class Toolkit:
    """The job steps for ``model = gamenet`` (see :class:`app.contract.jobs.Toolkit`)."""

    def ingest(
        self, fmt: str, input_dir: Path, out_dir: Path, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Read the export with the format's reader and write the dataset atomically."""
        from app.contract.ddi_table import write_ddi_csv
        from app.contract.errors import InputFileError
        from training.data.dataset import write_dataset

        module_name, reader, config_name = READERS[fmt]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise JobInputError(f"format {fmt!r} has no reader in this build") from None
        args: list[Any] = [input_dir]
        if config_name is not None:
            args.append(_config(getattr(module, config_name), options, input_dir, fmt))
        elif options:
            raise JobInputError(f"the {fmt} reader takes no options")
        try:
            result = getattr(module, reader)(*args)
        except (InputFileError, FileNotFoundError, ValueError) as exc:
            raise JobInputError(str(exc).replace(f"{input_dir}/", "")) from None
        filters = list(getattr(result, "filters", []))
        if not result.patients:
            raise JobInputError(_empty_message(fmt, filters))
        manifest = write_dataset(
            result.patients,
            out_dir,
            source_format=fmt,
            filters=filters,
            notes=result.notes,
            extra=result.extra,
        )
        if getattr(result, "ddi", None) is not None:
            write_ddi_csv(result.ddi, out_dir / "ddi.csv")
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
