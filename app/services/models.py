"""Registering artifacts and activating versions: the DB row and the in-memory registry together."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from app.crud import model_versions as crud
from app.db.models import ModelVersion
from app.db.session import begin_write
from app.errors import (
    ArtifactError,
    ArtifactForbidden,
    ArtifactNotFound,
    ConflictError,
    ModelNotFound,
)
from app.inference.onnx import read_manifest, read_onnx
from app.inference.registry import ModelRegistry

logger = logging.getLogger(__name__)


def resolve_artifact_dir(path: Path, roots: Sequence[Path]) -> Path:
    """Resolve ``path`` to a real directory strictly inside one of ``roots``; refuse the rest.

    Symbolic links on the way down from the root are refused, as are paths outside the roots
    and anything but a directory. The detail never names a server path.

    Raises:
        ArtifactForbidden: the path is outside the roots or goes through a link.
        ArtifactNotFound: there is no directory at the path.
    """
    absolute = Path(os.path.abspath(path))
    for root in roots:
        for base in (Path(os.path.abspath(root)), Path(root).resolve()):
            if absolute != base and absolute.is_relative_to(base):
                real = Path(root).resolve() / absolute.relative_to(base)
                if real.resolve() != real:
                    raise ArtifactForbidden("the artifact path goes through a symbolic link")
                if not stat.S_ISDIR(_lstat_mode(real)):
                    raise ArtifactNotFound("no artifact directory at this path")
                return real
    raise ArtifactForbidden(
        "artifact paths must be inside the server's artifacts or import directory"
    )


def _lstat_mode(path: Path) -> int:
    try:
        return path.lstat().st_mode
    except OSError:
        return 0


def register_artifact(
    *, session: Session, path: Path, roots: Sequence[Path] | None = None
) -> ModelVersion:
    """Record an artifact directory (manifest checked, sha256 computed now) as ``registered``.

    ``roots``: where the directory must be (the API passes the artifacts and import
    directories); ``None`` for the operator's command line and the job pipeline.

    Raises:
        ArtifactError: the directory is not a valid artifact, or not inside ``roots``.
        ConflictError: this name and version are already registered.
    """
    path = Path(path).resolve() if roots is None else resolve_artifact_dir(path, roots)
    manifest = read_manifest(path)
    begin_write(session)
    _, digest = read_onnx(path)
    if digest != manifest.onnx_sha256:
        raise ArtifactError("model.onnx: sha256 differs from the manifest's onnx_sha256")
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
    A version that failed is retried (and logged) at the registry's back-off: logged at ERROR
    once, then at WARNING on each retry.
    """
    errors = []
    current = registry.snapshot()
    for row in crud.get_active_versions(session=session):
        served = current.get(row.name)
        if served is not None and served.version == row.version:
            continue
        if not registry.backoff.is_due(row.name, row.version):
            continue
        try:
            registry.install(
                registry.prepare(
                    name=row.name, version=row.version, sha256=row.sha256, path=Path(row.path)
                )
            )
        except Exception as exc:  # one broken artifact must not stop the others loading
            wait = registry.backoff.failed(row.name, row.version)
            level = logging.WARNING if wait else logging.ERROR
            logger.log(level, "could not load %s v%d: %s", row.name, row.version, exc)
            errors.append(f"{row.name} v{row.version}: {exc}")
        else:
            registry.backoff.succeeded(row.name, row.version)
    return errors
