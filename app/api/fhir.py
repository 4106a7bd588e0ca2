"""FHIR content negotiation: ``application/fhir+json`` answers, and errors as OperationOutcome.

A request that sends or accepts ``application/fhir+json`` gets its errors as an
``OperationOutcome`` (one issue per invalid field, its ``expression`` the field path; never the
submitted value), with the same status the problem+json answer would have. A request the auth
gate refuses before reading its body (:mod:`app.api.gate`) has lost its ``Content-Type`` by
then, so only its ``Accept`` decides.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from app.services.fhir_output import operation_outcome

FHIR_JSON = "application/fhir+json"
Handler = Callable[[Request, Exception], Awaitable[Response]]


def accepts_fhir(request: Request) -> bool:
    """Whether the caller asks for FHIR answers (``Accept: application/fhir+json``)."""
    return FHIR_JSON in request.headers.get("accept", "")


def speaks_fhir(request: Request) -> bool:
    """Whether the caller speaks FHIR: it accepts or sends ``application/fhir+json``."""
    return accepts_fhir(request) or request.headers.get("content-type", "").startswith(FHIR_JSON)


def fhir_response(resource: dict[str, Any], status: int = 200) -> JSONResponse:
    """A FHIR resource as ``application/fhir+json``."""
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON)


def _expression(loc: list[Any]) -> str:
    path = ""
    for part in loc[1:] if loc[:1] == ["body"] else loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.lstrip(".")


def negotiated(handler: Handler) -> Handler:
    """Wrap a problem+json exception handler to answer FHIR callers with an OperationOutcome."""

    async def wrapped(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        if not speaks_fhir(request):
            return response
        problem = json.loads(bytes(response.body))
        detail = problem.get("detail") or problem.get("title") or "error"
        expressions = [_expression(e["loc"]) for e in problem.get("errors", [])]
        headers = {k: v for k, v in response.headers.items() if k.lower() == "www-authenticate"}
        outcome = operation_outcome(response.status_code, detail, expressions)
        return JSONResponse(outcome, response.status_code, headers=headers, media_type=FHIR_JSON)

    return wrapped
