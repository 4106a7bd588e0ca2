"""The OpenAPI document: every error response documented as ``application/problem+json``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.api.problems import PROBLEM_JSON
from app.schemas.common import FieldError, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# A 429's header: sent by the per-key rate limit, not by the training-job capacity check.
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the key may call again (rate limit only)",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def custom_openapi(app: FastAPI) -> dict[str, Any]:
    """Build (once) the schema, replacing FastAPI's default error bodies with ``Problem``."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["FieldError"] = FieldError.model_json_schema()
    components["Problem"].pop("$defs", None)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
    app.openapi_schema = schema
    return schema


def operation_id(route: APIRoute) -> str:
    """``<tag>-<function name>``, so generated clients read well."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name
