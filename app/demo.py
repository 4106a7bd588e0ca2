"""``medrec demo``: from nothing to a serving MedRec on the embedded defaults, in about a minute.

Steps (each skipped when its output already exists, so a second ``medrec demo`` just serves):

1. the training side (``app.contract.entry_points.DEMO_BUILDER``) generates a synthetic
   MIMIC-III-layout export with a typed DDI table, ingests it, trains a small GAMENet and a GENN
   pair-risk model and exports both to ONNX;
2. the database is migrated, the synthetic DDI table loaded, both models registered and activated;
3. an admin and a clinician API key are created, a ready-to-paste ``curl`` printed, and the
   service serves.

Everything lives under ``MEDREC_HOME`` (default ``./var``). The model and data are synthetic and
labelled so in the manifest and in every API response: not for clinical use.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from app.contract.entry_points import DEMO_BUILDER, DemoBuild
from app.errors import ConflictError
from app.plugins import load_entry_point
from app.settings import Settings, get_settings

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
    """What the demo set up: the artifacts it serves and the keys it created."""

    artifacts: tuple[Path, ...]
    admin_key: str
    clinician_key: str


def prepare_demo(settings: Settings, config: DemoConfig) -> DemoResult:
    """Build (or reuse) the synthetic data and models under ``settings.home`` and register them.

    Raises:
        TrainingNotInstalled: the training extra is missing and nothing was built before.
    """
    from app import admin

    build: DemoBuild = load_entry_point(DEMO_BUILDER)(
        settings.home / "demo",
        settings.artifacts_dir,
        patients=config.patients,
        epochs=config.epochs,
        genn_epochs=config.genn_epochs,
        seed=config.seed,
    )
    admin.upgrade_db(settings)
    admin.load_ddi_file(
        settings, build.ddi_csv, source="synthetic", source_version="demo", replace=True
    )
    for directory in build.artifacts:
        try:
            admin.register_model(settings, directory, activate=True)
        except ConflictError:
            logger.info("%s is already registered; keeping the registry as it is", directory)
    return DemoResult(
        artifacts=build.artifacts,
        admin_key=admin.create_key(settings, role="admin", name="demo-admin"),
        clinician_key=admin.create_key(settings, role="clinician", name="demo-clinician"),
    )


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

    settings = get_settings()
    result = prepare_demo(settings, DemoConfig(patients=patients, epochs=epochs, seed=seed))
    typer.echo(
        f"\nMedRec demo ready: {', '.join(p.name for p in result.artifacts)}"
        " (SYNTHETIC, not for clinical use)\n"
        f"admin key:     {result.admin_key}\n"
        f"clinician key: {result.clinician_key}\n"
        f"API docs:      http://{settings.host}:{settings.port}/docs\n\n"
        f"{curl_example(settings, result.clinician_key)}\n"
    )
    if serve:
        serve_command(host=None, port=None, workers=None, migrate=False)
