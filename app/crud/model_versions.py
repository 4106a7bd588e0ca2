"""Model versions in the registry table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.contract.manifest import Manifest
from app.db.base import utcnow
from app.db.models import ModelVersion


def create_model_version(
    *, session: Session, manifest: Manifest, sha256: str, path: str, commit: bool = True
) -> ModelVersion:
    """Register one artifact (status ``registered``) and commit, or only flush.

    With ``commit=False`` the row joins the caller's transaction (a job's fenced commit).

    Raises:
        sqlalchemy.exc.IntegrityError: the name and version are registered already.
    """
    row = ModelVersion(
        name=manifest.name,
        version=manifest.version,
        sha256=sha256,
        path=path,
        manifest=manifest.model_dump(mode="json", by_alias=True),
        metrics=manifest.model_dump(mode="json", include={"metrics"})["metrics"],
        status="registered",
    )
    session.add(row)
    if not commit:
        session.flush()
        return row
    session.commit()
    session.refresh(row)
    return row


def get_next_version(*, session: Session, name: str) -> int:
    """Return one more than the highest registered version of ``name`` (1 for a new name)."""
    stmt = select(func.max(ModelVersion.version)).where(ModelVersion.name == name)
    return int(session.scalar(stmt) or 0) + 1


def get_model_versions(*, session: Session, name: str | None = None) -> list[ModelVersion]:
    """Return every version (of ``name``, when given), by name then version."""
    stmt = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version)
    if name is not None:
        stmt = stmt.where(ModelVersion.name == name)
    return list(session.scalars(stmt))


def get_model_version(*, session: Session, name: str, version: int) -> ModelVersion | None:
    """Return one version, or ``None``."""
    return session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )


def get_active_versions(*, session: Session) -> list[ModelVersion]:
    """Return the active version of every model name."""
    return list(session.scalars(select(ModelVersion).where(ModelVersion.status == "active")))


def set_active(*, session: Session, row: ModelVersion) -> ModelVersion:
    """Make ``row`` the active version of its name (others become inactive) and commit."""
    for other in session.scalars(
        select(ModelVersion).where(ModelVersion.name == row.name, ModelVersion.status == "active")
    ):
        other.status = "inactive"
    row.status = "active"
    row.activated_at = utcnow()
    session.commit()
    session.refresh(row)
    return row
