"""``medrec evaluate``: every run and baseline scored on one footing, written as one report.

``OUT/`` gets ``report.json`` (every figure, the scored patients and visits of each row),
one PNG per figure and ``report.html`` (the same PNGs embedded, so the page stands alone).
:func:`run_report` writes the report of one run beside the baselines, on the run's own split:
the export puts it in the artifact (``app.contract.artifact.REPORT_FILE``).

Example::

    medrec evaluate --data var/ds --runs runs/gamenet --runs runs/gb-ft --baselines lr,nearest
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.data.splits import SplitConfig
from training.evaluate.baselines import fit_baseline
from training.evaluate.ddi_curve import curve_targets
from training.evaluate.footing import Footing, load_footing
from training.evaluate.html import render_html
from training.evaluate.plots import plot_report
from training.evaluate.predictor import Predictor
from training.evaluate.runs import load_run_predictor, read_run
from training.evaluate.scoring import score_row
from training.metrics import ddi_rate

logger = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"


def _run_warnings(run_dir: Path, run: dict[str, Any], footing: Footing) -> list[str]:
    """What makes a run's row not comparable: another dataset, or another split."""
    trained = run.get("dataset", {})
    out = []
    if trained.get("fingerprint") not in (None, footing.dataset["fingerprint"]):
        out.append(f"{run_dir}: trained on another dataset (fingerprint differs)")
    ids = trained.get("split", {}).get("patient_ids_sha256", {}).get("train")
    if ids is not None and ids != footing.dataset["split"]["patient_ids_sha256"]["train"]:
        out.append(
            f"{run_dir}: trained on another split; its test row may include its training patients"
        )
    return out


def _labels(predictors: Sequence[tuple[Predictor, str, str]]) -> list[str]:
    """Unique row labels: a predictor's name, with its run directory's name when repeated."""
    names = [p.name for p, _, _ in predictors]
    return [
        f"{p.name} ({Path(source).name})" if names.count(p.name) > 1 else p.name
        for p, _, source in predictors
    ]


def build_report(
    footing: Footing,
    run_dirs: Sequence[Path],
    baselines: Sequence[str],
    *,
    seed: int = 0,
    bootstrap_rounds: int = 10,
) -> dict[str, Any]:
    """Score every run and baseline on ``footing``; return the ``report.json`` content.

    Raises:
        FileNotFoundError, ValueError: for a run directory that cannot be loaded or a
            baseline name that is unknown (before anything is scored).
    """
    if not run_dirs and not baselines:
        raise ValueError("evaluate: give at least one --runs RUN_DIR or --baselines NAME")
    warnings: list[str] = []
    predictors: list[tuple[Predictor, str, str]] = []
    for run_dir in run_dirs:
        warnings += _run_warnings(run_dir, read_run(run_dir), footing)
        predictors.append((load_run_predictor(run_dir), "model", str(run_dir)))
    for name in baselines:
        predictors.append((fit_baseline(name, footing.split.train, seed=seed), "baseline", name))
    truth = footing.truth(footing.split.test)
    truth_rate = ddi_rate([np.flatnonzero(r) for y in truth for r in y], footing.ddi_adj)
    targets = curve_targets(truth_rate)
    rows = []
    for (predictor, kind, source), label in zip(predictors, _labels(predictors), strict=True):
        logger.info("scoring %s", label)
        row = score_row(
            predictor,
            footing,
            kind=kind,
            targets=targets,
            bootstrap_rounds=bootstrap_rounds,
            seed=seed,
        )
        rows.append({**row, "name": label, "source": source})
    for w in warnings:
        logger.warning("%s", w)
    table = footing.ddi_table
    return {
        "data_dir": str(footing.data_dir),
        "dataset": footing.dataset,
        "ddi_source": {
            "name": table.name,
            "fingerprint": table.fingerprint,
            "pairs": len(table.pairs),
        },
        "columns": len(footing.med_vocab),
        "seed": seed,
        "bootstrap_rounds": bootstrap_rounds,
        "test_ground_truth_ddi_rate": truth_rate,
        "ddi_curve_targets": targets,
        "warnings": warnings,
        "rows": rows,
    }


def write_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``report.json``, the PNGs and ``report.html`` into ``out_dir``; return the page."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    figures = plot_report(report, out_dir)
    path = out_dir / REPORT_HTML
    path.write_text(render_html(report, figures))
    return path


def evaluate(
    data_dir: Path,
    run_dirs: Sequence[Path],
    out_dir: Path,
    *,
    split: SplitConfig,
    baselines: Sequence[str] = ("lr",),
    ddi_path: Path | None = None,
    bootstrap_rounds: int = 10,
) -> dict[str, Any]:
    """Evaluate ``run_dirs`` and ``baselines`` on one split of ``data_dir``; write ``out_dir``.

    Raises:
        FileExistsError: if ``out_dir`` already holds a report.
        FileNotFoundError, ValueError: as :func:`load_footing` and :func:`build_report`.
    """
    if (Path(out_dir) / REPORT_JSON).exists():
        raise FileExistsError(f"{out_dir}: already holds a report ({REPORT_JSON})")
    footing = load_footing(data_dir, split, ddi_path)
    report = build_report(
        footing, run_dirs, baselines, seed=split.seed, bootstrap_rounds=bootstrap_rounds
    )
    write_report(report, out_dir)
    return report


def run_report(
    run_dir: Path, path: Path, *, baselines: Sequence[str] = ("lr", "frequency", "nearest")
) -> None:
    """Write the HTML report of the run in ``run_dir`` beside ``baselines`` to ``path``.

    The dataset, split (method and seed) and DDI table are the run's own (``run.json``), so the
    test rows are the run's held-out patients.

    Raises:
        FileNotFoundError: if the run's dataset or DDI table is gone.
        ValueError: as :func:`build_report`.
    """
    run = read_run(run_dir)
    recorded = run.get("dataset", {}).get("split", {})
    method = recorded.get("method", run.get("train_config", {}).get("split", "random"))
    seed = recorded.get("seed")
    split = SplitConfig(method=method, seed=int(seed if seed is not None else run.get("seed", 0)))
    ddi = run.get("ddi_path")
    footing = load_footing(Path(run["data_dir"]), split, Path(ddi) if ddi else None)
    rounds = int(run.get("train_config", {}).get("bootstrap_rounds", 10))
    report = build_report(footing, [run_dir], baselines, seed=split.seed, bootstrap_rounds=rounds)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(write_report(report, Path(tmp)), path)
