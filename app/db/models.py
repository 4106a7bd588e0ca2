"""ORM classes: model versions, the DDI knowledge base, API keys and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, IdMixin, UTCDateTime

MODEL_STATUSES = ("registered", "active", "inactive")
ROLES = ("clinician", "admin")


class ModelVersion(IdMixin, Base):
    """One registered artifact: ``name`` + ``version``, its sha256, path and manifest."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint("status IN ('registered', 'active', 'inactive')", name="status_known"),
    )

    name: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="registered")
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DdiInteraction(IdMixin, Base):
    """A known interaction between two ATC3 classes, stored once with ``atc_a < atc_b``."""

    __tablename__ = "ddi_interactions"
    __table_args__ = (
        UniqueConstraint("atc_a", "atc_b", "source"),
        CheckConstraint("atc_a < atc_b", name="ordered_pair"),
        CheckConstraint(
            "severity IN ('high', 'moderate', 'low', 'unknown')", name="severity_known"
        ),
    )

    atc_a: Mapped[str] = mapped_column(String(4), index=True)
    atc_b: Mapped[str] = mapped_column(String(4), index=True)
    types: Mapped[list[str]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(16), default="unknown")
    source: Mapped[str] = mapped_column(String(128))
    source_version: Mapped[str] = mapped_column(String(128))


class ApiKey(IdMixin, Base):
    """An API key, stored only as its HMAC; ``role`` is ``clinician`` or ``admin``."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("role IN ('clinician', 'admin')", name="role_known"),)

    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    audit_events: Mapped[list[AuditEvent]] = relationship(
        back_populates="api_key", passive_deletes=True
    )


class AuditEvent(IdMixin, Base):
    """One audited request: who, which route template, the outcome and timing. No PHI."""

    __tablename__ = "audit_events"

    request_id: Mapped[str] = mapped_column(String(64), index=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(256))
    status_code: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    duration_ms: Mapped[float] = mapped_column(Float)

    api_key: Mapped[ApiKey | None] = relationship(back_populates="audit_events")
