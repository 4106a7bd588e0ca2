"""The training half of ``medrec demo``: synthetic export → dataset → GAMENet + GENN artifacts.

The service's ``medrec demo`` (``app.demo``) calls :func:`build_demo` by name
(``app.contract.entry_points.DEMO_BUILDER``), then registers what it returns and serves it. Each
step is skipped when its output already exists, so a second demo reuses the first one's work.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from app.contract.entry_points import DemoBuild

logger = logging.getLogger(__name__)


def build_demo(
    work_dir: Path, artifacts_dir: Path, *, patients: int, epochs: int, genn_epochs: int, seed: int
) -> DemoBuild:
    """Build (or reuse) the synthetic export under ``work_dir`` and the two demo artifacts.

    Args:
        work_dir: where the export, the dataset and the runs are kept.
        artifacts_dir: where ``gamenet-demo`` and ``genn-demo`` are exported.
        patients: synthetic patients in the cohort.
        epochs: GAMENet training epochs.
        genn_epochs: epochs of each GENN stage.
        seed: seed of the cohort and of both trainings.
    """
    from training.data.ingest import ingest
    from training.data.synth import SynthConfig, write_mimic3_export
    from training.data.synth.export import SYNTHETIC_MARKER
    from training.export.runner import export_run
    from training.gamenet.config import TrainConfig
    from training.gamenet.run import train as train_gamenet
    from training.genn.config import OptimConfig as GennOptimConfig
    from training.genn.config import TrainConfig as GennTrainConfig
    from training.genn.run import train as train_genn

    export_dir, dataset_dir, run_dir = work_dir / "export", work_dir / "dataset", work_dir / "run"
    genn_run_dir = work_dir / "genn-run"
    artifact_dir = artifacts_dir / "gamenet-demo"
    genn_artifact_dir = artifacts_dir / "genn-demo"
    if not (export_dir / SYNTHETIC_MARKER).is_file():
        logger.info("generating %d synthetic patients into %s", patients, export_dir)
        write_mimic3_export(SynthConfig(patients=patients, seed=seed), export_dir)
    if not dataset_dir.is_dir():
        maps = {
            "atc_mapping": export_dir / "ndc2atc.csv",
            "ndc2rxcui": export_dir / "ndc2rxcui.csv",
        }
        ingest("mimic3", export_dir, dataset_dir, maps)
    if not (run_dir / "metrics.json").is_file():
        train_config = TrainConfig(epochs=epochs, split="random", seed=seed)
        train_gamenet(dataset_dir, run_dir, train_config, ddi_path=export_dir / "ddi.csv")
    if not artifact_dir.is_dir():
        export_run(run_dir, artifact_dir)
    if not (genn_run_dir / "metrics.json").is_file():
        n = genn_epochs
        genn_train = GennOptimConfig(seed=seed, mlp_epochs=n, pretrain_epochs=n, genn_epochs=n)
        genn_config = GennTrainConfig(seed=seed, synthetic=True, train=genn_train)
        shutil.rmtree(genn_run_dir, ignore_errors=True)  # an interrupted run restarts
        train_genn(export_dir / "ddi.csv", genn_run_dir, genn_config)
    if not genn_artifact_dir.is_dir():
        export_run(genn_run_dir, genn_artifact_dir)
    return DemoBuild(ddi_csv=export_dir / "ddi.csv", artifacts=(artifact_dir, genn_artifact_dir))
