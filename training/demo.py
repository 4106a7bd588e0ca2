"""``medrec demo``: from nothing to a serving MedRec on the embedded defaults, in about a minute.

Steps (each skipped when its output already exists, so a second ``medrec demo`` just serves):

1. generate a synthetic MIMIC-III-layout export (with its NDC maps and a typed DDI table);
2. ingest it into a Dataset;
3. train a small GAMENet (batched mode, a few epochs) and export it to ONNX;
4. migrate the database, load the synthetic DDI table, register and activate the model;
5. create an admin and a clinician API key, print a ready-to-paste ``curl``, and serve.

Everything lives under ``MEDREC_HOME`` (default ``./var``). The model and data are synthetic and
labelled so in the manifest and in every API response: not for clinical use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import typer

from app import admin
from app.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo: small enough to train in about a minute on two CPU cores."""

    patients: int = 2000
    epochs: int = 8
    seed: int = 0


@dataclass(frozen=True)
class DemoResult:
    """What the demo set up: where the artifact is and the keys it created."""

    artifact_dir: Path
    admin_key: str
    clinician_key: str


def prepare_demo(settings: Settings, config: DemoConfig) -> DemoResult:
    """Build (or reuse) the synthetic data and model under ``settings.home`` and register them."""
    from training.data.mimic3 import Mimic3Config, ingest_mimic3
    from training.data.synth import SynthConfig, write_mimic3_export
    from training.data.synth.export import SYNTHETIC_MARKER
    from training.export.runner import export_run
    from training.gamenet.config import TrainConfig
    from training.gamenet.run import train_gamenet

    root = settings.home / "demo"
    export_dir, dataset_dir, run_dir = root / "export", root / "dataset", root / "run"
    artifact_dir = settings.artifacts_dir / "gamenet-demo"
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
    admin.upgrade_db(settings)
    admin.load_ddi_file(
        settings, export_dir / "ddi.csv", source="synthetic", source_version="demo", replace=True
    )
    admin.register_model(settings, artifact_dir, activate=True)
    return DemoResult(
        artifact_dir=artifact_dir,
        admin_key=admin.create_key(settings, role="admin", name="demo-admin"),
        clinician_key=admin.create_key(settings, role="clinician", name="demo-clinician"),
    )


def curl_example(settings: Settings, key: str) -> str:
    """Return a ready-to-paste ``curl`` asking the demo service for a recommendation."""
    return (
        f"curl -s http://{settings.host}:{settings.port}/v1/recommendations \\\n"
        f"  -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\\n"
        '  -d \'{"visits": [\n'
        '    {"diagnoses": [{"system": "icd9cm", "code": "401.9"}, '
        '{"system": "icd9cm", "code": "250.00"}], "medications": ["C09AA05", "A10BA02"]},\n'
        '    {"diagnoses": [{"system": "icd9cm", "code": "428.0"}, '
        '{"system": "icd9cm", "code": "427.31"}],\n'
        '     "procedures": [{"system": "icd9proc", "code": "88.72"}]}]}\''
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
