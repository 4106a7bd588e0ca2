"""``medrec demo``: from nothing to a serving MedRec on the embedded defaults, in about a minute.

Steps (each skipped when its output already exists, so a second ``medrec demo`` just serves):

1. generate a synthetic MIMIC-III-layout export (with its NDC maps and a typed DDI table);
2. ingest it into a Dataset;
3. train a small GAMENet (batched mode, a few epochs) and a GENN pair-risk model on the
   synthetic DDI table, and export both to ONNX;
4. migrate the database, load the synthetic DDI table, register and activate both models;
5. create an admin and a clinician API key, print a ready-to-paste ``curl``, and serve.

Everything lives under ``MEDREC_HOME`` (default ``./var``). The model and data are synthetic and
labelled so in the manifest and in every API response: not for clinical use.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from app import admin
from app.errors import ConflictError
from app.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo: small enough to train in about a minute on two CPU cores."""

    patients: int = 2000
    epochs: int = 25  # ~20 s on 2 cores; GAMENet then beats the frequency and nearest baselines
    genn_epochs: int = 30
    seed: int = 0


@dataclass(frozen=True)
class DemoResult:
    """What the demo set up: where the artifact is and the keys it created."""

    artifact_dir: Path
    genn_artifact_dir: Path
    admin_key: str
    clinician_key: str


def prepare_demo(settings: Settings, config: DemoConfig) -> DemoResult:
    """Build (or reuse) the synthetic data and model under ``settings.home`` and register them."""
    from training.data.mimic3 import Mimic3Config, ingest_mimic3
    from training.data.synth import SynthConfig, write_mimic3_export
    from training.data.synth.export import SYNTHETIC_MARKER
    from training.export.runner import export_run
    from training.gamenet.config import TrainConfig
    from training.gamenet.run import train as train_gamenet
    from training.genn.config import OptimConfig as GennOptimConfig
    from training.genn.config import TrainConfig as GennTrainConfig
    from training.genn.run import train as train_genn

    root = settings.home / "demo"
    export_dir, dataset_dir, run_dir = root / "export", root / "dataset", root / "run"
    genn_run_dir = root / "genn-run"
    artifact_dir = settings.artifacts_dir / "gamenet-demo"
    genn_artifact_dir = settings.artifacts_dir / "genn-demo"
    if not (export_dir / SYNTHETIC_MARKER).is_file():
        logger.info("generating %d synthetic patients into %s", config.patients, export_dir)
        write_mimic3_export(SynthConfig(patients=config.patients, seed=config.seed), export_dir)
    if not dataset_dir.is_dir():
        ingest_mimic3(
            export_dir,
            dataset_dir,
            Mimic3Config(
                atc_mapping=export_dir / "ndc2atc.csv", ndc2rxcui=export_dir / "ndc2rxcui.csv"
            ),
        )
    if not (run_dir / "metrics.json").is_file():
        train_config = TrainConfig(epochs=config.epochs, split="random", seed=config.seed)
        train_gamenet(dataset_dir, run_dir, train_config, ddi_path=export_dir / "ddi.csv")
    if not artifact_dir.is_dir():
        export_run(run_dir, artifact_dir)
    if not (genn_run_dir / "metrics.json").is_file():
        n = config.genn_epochs
        genn_train = GennOptimConfig(
            seed=config.seed, mlp_epochs=n, pretrain_epochs=n, genn_epochs=n
        )
        genn_config = GennTrainConfig(seed=config.seed, synthetic=True, train=genn_train)
        shutil.rmtree(genn_run_dir, ignore_errors=True)  # an interrupted run restarts
        train_genn(export_dir / "ddi.csv", genn_run_dir, genn_config)
    if not genn_artifact_dir.is_dir():
        export_run(genn_run_dir, genn_artifact_dir)
    admin.upgrade_db(settings)
    admin.load_ddi_file(
        settings, export_dir / "ddi.csv", source="synthetic", source_version="demo", replace=True
    )
    for directory in (artifact_dir, genn_artifact_dir):
        _register_and_activate(settings, directory)
    return DemoResult(
        artifact_dir=artifact_dir,
        genn_artifact_dir=genn_artifact_dir,
        admin_key=admin.create_key(settings, role="admin", name="demo-admin"),
        clinician_key=admin.create_key(settings, role="clinician", name="demo-clinician"),
    )


def _register_and_activate(settings: Settings, artifact_dir: Path) -> None:
    try:
        admin.register_model(settings, artifact_dir, activate=True)
    except ConflictError:
        logger.info("%s is already registered; keeping the registry as it is", artifact_dir)


# The demo's example request: a patient with hypertension and diabetes who comes back with heart
# failure and atrial fibrillation; the last visit is the one recommended for.
DEMO_REQUEST: dict[str, Any] = {
    "visits": [
        {
            "diagnoses": [
                {"system": "icd9cm", "code": "401.9"},
                {"system": "icd9cm", "code": "250.00"},
            ],
            "medications": ["C09AA05", "A10BA02"],
        },
        {
            "diagnoses": [
                {"system": "icd9cm", "code": "428.0"},
                {"system": "icd9cm", "code": "427.31"},
            ],
            "procedures": [{"system": "icd9proc", "code": "88.72"}],
        },
    ]
}


def curl_example(settings: Settings, key: str) -> str:
    """Return a ready-to-paste ``curl`` asking the demo service for a recommendation."""
    return (
        f"curl -s http://{settings.host}:{settings.port}/v1/recommendations \\\n"
        f"  -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\\n"
        f"  -d '{json.dumps(DEMO_REQUEST)}'"
    )


def demo(
    patients: int = typer.Option(DemoConfig.patients, min=100, help="Synthetic patients."),
    epochs: int = typer.Option(DemoConfig.epochs, min=1, help="GAMENet training epochs."),
    seed: int = typer.Option(DemoConfig.seed, help="Seed of the cohort and the training."),
    serve: bool = typer.Option(True, help="Serve after setting up (--no-serve to stop there)."),
) -> None:
    """Set up a synthetic demo model under MEDREC_HOME and serve it on 127.0.0.1:8000."""
    from app.cli import serve as serve_command
    from app.settings import get_settings

    settings = get_settings()
    result = prepare_demo(settings, DemoConfig(patients=patients, epochs=epochs, seed=seed))
    typer.echo(
        f"\nMedRec demo ready: model {result.artifact_dir} (SYNTHETIC, not for clinical use)\n"
        f"admin key:     {result.admin_key}\n"
        f"clinician key: {result.clinician_key}\n"
        f"API docs:      http://{settings.host}:{settings.port}/docs\n\n"
        f"{curl_example(settings, result.clinician_key)}\n"
    )
    if serve:
        serve_command(host=None, port=None, workers=None)
