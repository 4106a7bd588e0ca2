"""``medrec export``: turn a run directory into a served artifact (ONNX + manifest.json).

The run's ``run.json["model"]`` picks the exporter, ``training.<model>.export.build(run_dir)``,
which returns the wrapper module, example feeds, the ONNX input/output specs and the manifest
fields. This module exports, checks torch ↔ onnxruntime parity on the example feeds, and writes
the artifact with ``training.export.artifact``. A recommender's artifact also gets
``report.html``, the run's evaluation report beside the baselines on its own held-out split
(``training.evaluate.report.run_report``); when the run's dataset is gone it is left out, with a
warning.

Example::

    medrec export runs/gamenet --out var/artifacts/gamenet-1 --version 1
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import shutil
import tempfile
from pathlib import Path
from typing import Any, get_args

from app.contract.artifact import REPORT_FILE, REPORT_FILES
from app.contract.manifest import Manifest, ModelName
from training.evaluate.runs import RECOMMENDERS
from training.export.artifact import export_onnx, max_parity_error, write_artifact

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-5


class ExportError(RuntimeError):
    """The exported graph disagrees with the PyTorch model, or the run cannot be exported."""


def _exporter(model: str) -> Any:
    return importlib.import_module(f"training.{model}.export")


def _export_child(model: str, run_dir: Path, onnx_path: Path) -> None:
    module, feeds, inputs, outputs, _ = _exporter(model).build(run_dir)
    export_onnx(module, feeds, inputs, outputs, onnx_path)


def _export_in_fresh_process(model: str, run_dir: Path, onnx_path: Path) -> None:
    """Export in a spawned process (the exporter then rebuilds the wrapper from ``run_dir``).

    torch 2.13's exporter keeps state between calls: a second export in one process specialises
    the GRU's dynamic visit axis to the example's size (reproduced; the first export is right).
    A fresh process per export sidesteps it.
    """
    process = multiprocessing.get_context("spawn").Process(
        target=_export_child, args=(model, run_dir, onnx_path)
    )
    process.start()
    process.join()
    if process.exitcode != 0 or not onnx_path.is_file():
        raise ExportError(f"{run_dir}: ONNX export failed (exit code {process.exitcode})")


def export_run(run_dir: Path, out_dir: Path, *, version: int = 1) -> Manifest:
    """Export the run in ``run_dir`` to the artifact directory ``out_dir``.

    Raises:
        FileNotFoundError: if ``run_dir`` has no ``run.json``.
        FileExistsError: if ``out_dir`` exists.
        ExportError: for an unknown model, or parity worse than ``PARITY_TOLERANCE``.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    run_file = run_dir / "run.json"
    if not run_file.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no run.json)")
    if out_dir.exists():
        raise FileExistsError(f"{out_dir}: artifact directory already exists")
    model = json.loads(run_file.read_text()).get("model")
    if model not in get_args(ModelName):
        raise ExportError(f"{run_file}: unknown model {model!r}")
    module, feeds, inputs, outputs, fields = _exporter(model).build(run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        _export_in_fresh_process(model, run_dir, onnx_path)
        error = max_parity_error(module, onnx_path, feeds)
        logger.info("torch vs onnxruntime max abs error %.2e on the example feeds", error)
        if not error <= PARITY_TOLERANCE:
            raise ExportError(f"parity error {error:.2e} exceeds {PARITY_TOLERANCE:.0e}")
        training = {**fields.get("training", {}), "parity_max_abs_error": error}
        fields = {
            **fields,
            "version": version,
            "inputs": [s.model_dump() for s in inputs],
            "outputs": [s.model_dump() for s in outputs],
            "training": training,
        }
        manifest = write_artifact(onnx_path, fields, out_dir)
    for name in REPORT_FILES:
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, out_dir / name)
    if model in RECOMMENDERS:
        _write_evaluation_report(run_dir, out_dir / REPORT_FILE)
    return manifest


def _write_evaluation_report(run_dir: Path, path: Path) -> None:
    from training.evaluate.report import run_report

    try:
        run_report(run_dir, path)
    except FileNotFoundError as exc:  # the run's dataset or DDI table was moved or removed
        logger.warning("no %s in the artifact: %s", path.name, exc)
        return
    logger.info("wrote %s", path)
