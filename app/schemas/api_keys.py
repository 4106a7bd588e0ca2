"""Schemas of ``/v1/api-keys`` (admin)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import Strict


class ApiKeyCreate(Strict):
    """A key to create."""

    name: str = Field(min_length=1, max_length=128, examples=["ward-7 EHR"])
    role: Literal["clinician", "admin"]


class ApiKeyPublic(BaseModel):
    """A key as listed: never its secret or its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Recorded at most once a minute.")
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    """A new key: ``key`` is shown this once and stored only as an HMAC."""

    key: str


class ApiKeysPublic(BaseModel):
    """Every key, oldest first."""

    data: list[ApiKeyPublic]
    count: int
