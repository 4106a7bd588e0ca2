"""Registering artifacts and activating versions: the DB row and the in-memory registry together."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from app.contract.artifact import ONNX_FILE, sha256_file
from app.crud import model_versions as crud
from app.db.models import ModelVersion
from app.db.session import begin_write
from app.errors import ArtifactError, ConflictError, ModelNotFound
from app.inference.onnx import read_manifest
from app.inference.registry import ModelRegistry

logger = logging.getLogger(__name__)


def register_artifact(*, session: Session, path: Path) -> ModelVersion:
    """Record an artifact directory (manifest checked, sha256 computed now) as ``registered``.

    Raises:
        ArtifactError: the directory is not a valid artifact.
        ConflictError: this name and version are already registered.
    """
    path = Path(path).resolve()
    manifest = read_manifest(path)
    begin_write(session)
    onnx = path / ONNX_FILE
    if not onnx.is_file():
        raise ArtifactError(f"{onnx}: model.onnx is missing")
    digest = sha256_file(onnx)
    if digest != manifest.onnx_sha256:
        raise ArtifactError(f"{onnx}: sha256 differs from the manifest's onnx_sha256")
    if crud.get_model_version(session=session, name=manifest.name, version=manifest.version):
        raise ConflictError(f"{manifest.name} v{manifest.version} is already registered")
    row = crud.create_model_version(
        session=session, manifest=manifest, sha256=digest, path=str(path)
    )
    logger.info("registered %s v%d from %s", row.name, row.version, path)
    return row


def activate_version(
    *, session: Session, registry: ModelRegistry, name: str, version: int
) -> ModelVersion:
    """Verify and warm up a version, mark it active, then swap it in (rollback = older version).

    Raises:
        ModelNotFound: no such registered version.
        ActivationError: verification failed; the previous version keeps serving.
    """
    row = crud.get_model_version(session=session, name=name, version=version)
    if row is None:
        raise ModelNotFound(f"{name} v{version} is not registered")
    loaded = registry.prepare(
        name=row.name, version=row.version, sha256=row.sha256, path=Path(row.path)
    )
    # The slow part (hash, session, golden input) ran outside any write lock; now end the read
    # and flip the statuses in one short write transaction.
    session.commit()
    begin_write(session)
    row = crud.set_active(session=session, row=row)
    registry.install(loaded)
    return row


def load_active(*, session: Session, registry: ModelRegistry) -> list[str]:
    """Load every active version not already served; return the errors (one line each).

    Used at start-up and by each worker's periodic sync, so all workers follow the registry.
    """
    errors = []
    current = registry.snapshot()
    for row in crud.get_active_versions(session=session):
        served = current.get(row.name)
        if served is not None and served.version == row.version:
            continue
        try:
            registry.install(
                registry.prepare(
                    name=row.name, version=row.version, sha256=row.sha256, path=Path(row.path)
                )
            )
        except Exception as exc:  # one broken artifact must not stop the others loading
            logger.error("could not load %s v%d: %s", row.name, row.version, exc)
            errors.append(f"{row.name} v{row.version}: {exc}")
    return errors
