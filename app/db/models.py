"""ORM classes: model versions, DDI knowledge base, code maps, API keys, audit log, CDS Hooks."""

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
    Text,
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


class VocabMapping(IdMixin, Base):
    """One medication code (``rxnorm``, ``ndc`` or ``atc``) and an ATC3 class it maps to.

    ``atc`` rows carry an ATC code's display name (``display``) and map it to its own class.
    """

    __tablename__ = "vocab_mappings"
    __table_args__ = (
        UniqueConstraint("system", "code", "atc3"),
        CheckConstraint("system IN ('rxnorm', 'ndc', 'atc')", name="system_known"),
    )

    system: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32))
    atc3: Mapped[str] = mapped_column(String(4))
    display: Mapped[str | None] = mapped_column(String(256))
    source_version: Mapped[str] = mapped_column(String(128))


class ApiKey(IdMixin, Base):
    """An API key, stored only as its HMAC; ``role`` is ``clinician`` or ``admin``."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("role IN ('clinician', 'admin')", name="role_known"),)

    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written at most once a minute per key (app.crud.api_keys.touch_api_key).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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


class CdsFeedback(IdMixin, Base):
    """What a clinician did with one CDS Hooks card: accepted or overridden, and why.

    Holds no PHI: the card's uuid, the service, the outcome, the override reason's coding and
    the suggestions accepted (their uuids); not the user's free-text comment.
    """

    __tablename__ = "cds_feedback"
    __table_args__ = (
        CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome_known"),
    )

    service_id: Mapped[str] = mapped_column(String(64), index=True)
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    override_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    outcome_at: Mapped[datetime] = mapped_column(UTCDateTime)
    client_iss: Mapped[str] = mapped_column(String(256))


class CdsTokenId(IdMixin, Base):
    """A CDS client JWT's ``jti``, kept until the token expires so a replay is refused."""

    __tablename__ = "cds_token_ids"
    __table_args__ = (UniqueConstraint("iss", "jti"),)

    iss: Mapped[str] = mapped_column(String(256))
    jti: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class TrainingJob(IdMixin, Base):
    """A training job: input, parameters, lease (owner, expiry, attempt), progress and result.

    A worker owns a running job while ``lease_expires_at`` is in the future; every write it makes
    is conditional on ``lease_owner`` and ``attempt`` (fencing), so a worker that lost its lease
    cannot commit a result.
    """

    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="state_known",
        ),
    )

    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    format: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    input_path: Mapped[str] = mapped_column(String(1024))
    job_dir: Mapped[str] = mapped_column(String(1024))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    epoch: Mapped[int | None] = mapped_column(Integer)
    epochs: Mapped[int | None] = mapped_column(Integer)
    val_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    log_tail: Mapped[str] = mapped_column(Text, default="")
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    result_model_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), unique=True
    )
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    result_model_version: Mapped[ModelVersion | None] = relationship()
