"""Shared schemas: problem details (RFC 9457) and the model reference."""

from __future__ import annotations

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import Strict as PydanticStrict


class Strict(BaseModel):
    """Input base: unknown fields are rejected, types are not coerced, numbers are finite.

    Strict types refuse ``"5"`` and ``true`` for an integer and ``0`` for a boolean; JSON's
    ``NaN`` and ``Infinity`` are refused as "not a finite number".
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _json_integer(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError("Input should be a JSON integer, not a string or boolean")
    return value


# An integer as JSON Schema means it (``5`` and ``5.0``; never ``"5"`` or ``true``): strict
# types alone would refuse ``5.0``, which the published schema allows. Put it after the field's
# constraints (``Annotated[int, Field(ge=1), *JSON_INT]``): before them, pydantic drops them from
# the JSON schema.
JSON_INT = (PydanticStrict(False), BeforeValidator(_json_integer))


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
