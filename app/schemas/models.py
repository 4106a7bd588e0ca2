"""Schemas of the model registry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import Strict


class ModelVersionCreate(Strict):
    """Register an exported artifact directory readable by the server."""

    path: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\x00-\x1f]+$",
        examples=["var/artifacts/gamenet-v1"],
        description="An artifact directory under MEDREC_HOME/artifacts or the import directory.",
    )
    activate: bool = False


class ModelVersionPublic(BaseModel):
    """A registered model version."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    version: int
    sha256: str
    status: Literal["registered", "active", "inactive"]
    metrics: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None
    loaded: bool = Field(False, description="Whether this process serves this version now.")


class ModelVersionsPublic(BaseModel):
    """A list of versions."""

    data: list[ModelVersionPublic]
    count: int
