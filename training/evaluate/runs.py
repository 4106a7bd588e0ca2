"""Run directories as predictors: the run's ``run.json`` names its model, which picks the loader.

Each recommender package offers ``training.<model>.predict.load_predictor(run_dir)``; this module
dispatches to it by the model name recorded in the run, so the evaluation never needs to know a
model's internals.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.evaluate.predictor import Predictor

RECOMMENDERS = ("gamenet", "gbert", "ensemble")
RUN_FILE = "run.json"


class NoPredictor(ValueError):
    """The run's model package offers no predictor (yet)."""


@dataclass(frozen=True)
class RunData:
    """What a run was trained on, as its ``run.json`` records it.

    Attributes:
        data_dir: the dataset directory.
        fingerprint: the dataset's fingerprint.
        split: the split's record (``Split.describe()``: method, seed, counts, id digests).
        ddi_path: the ``--ddi`` file, when one was given.
    """

    data_dir: Path | None
    fingerprint: str | None
    split: dict[str, Any]
    ddi_path: Path | None


def run_data(run: dict[str, Any]) -> RunData:
    """Read :class:`RunData` from GAMENet's ``run.json`` layout or G-BERT's."""
    if "data" in run:  # G-BERT: data {path, fingerprint}, split, ddi
        data, split, ddi = run["data"], run.get("split", {}), run.get("ddi")
        path, fingerprint = data.get("path"), data.get("fingerprint")
    else:  # GAMENet: data_dir, dataset {fingerprint, split}, ddi_path
        dataset = run.get("dataset", {})
        path, fingerprint = run.get("data_dir"), dataset.get("fingerprint")
        split, ddi = dataset.get("split", {}), run.get("ddi_path")
    return RunData(
        data_dir=None if path is None else Path(path),
        fingerprint=fingerprint,
        split=split,
        ddi_path=None if ddi is None else Path(ddi),
    )


def read_run(run_dir: Path) -> dict[str, Any]:
    """Return the run's ``run.json``.

    Raises:
        FileNotFoundError: if ``run_dir`` has no ``run.json``.
        ValueError: if it is not JSON, or names no recommender model.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    try:
        run: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    model = run.get("model") if isinstance(run, dict) else None
    if model not in RECOMMENDERS:
        raise ValueError(
            f"{path}: model {model!r} is not a recommender ({', '.join(RECOMMENDERS)})"
        )
    return run


def load_run_predictor(run_dir: Path) -> Predictor:
    """Return the predictor of the run in ``run_dir``, loaded by its model's own package.

    Raises:
        FileNotFoundError: as :func:`read_run`.
        ValueError: as :func:`read_run`.
        NoPredictor: when the model's package offers no predictor yet.
    """
    model = read_run(run_dir)["model"]
    module_name = f"training.{model}.predict"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NoPredictor(
            f"{run_dir}: {model} runs cannot be evaluated yet ({module_name} is missing)"
        ) from None
    predictor: Predictor = module.load_predictor(Path(run_dir))
    return predictor
