"""Shared schemas: problem details (RFC 9457) and the model reference."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Input base: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    """One invalid field: its path and what is wrong (never the submitted value)."""

    loc: list[str | int] = Field(examples=[["body", "visits", 0, "diagnoses", 1, "code"]])
    msg: str
    type: str


class Problem(BaseModel):
    """An ``application/problem+json`` error body."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ModelRef(BaseModel):
    """Which model version produced an answer."""

    name: str = Field(examples=["gamenet"])
    version: int = Field(examples=[1])
    sha256: str = Field(examples=["3f0c" + "0" * 60])
