"""``application/problem+json`` (RFC 9457) answers for every error, registered in ``create_app``.

Validation errors name the field path and the rule broken, never the submitted value (codes are
PHI): only pydantic's ``loc``, ``msg`` and ``type`` are copied, never ``input`` or ``ctx``, and an
unknown field is reported at its parent's path (its name is submitted text). At most
``MAX_LISTED_ERRORS`` are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException

from app.api.fhir import negotiated
from app.errors import MedRecError
from app.schemas.common import FieldError, Problem

PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build a problem response."""
    body = Problem(
        title=title or HTTPStatus(status).phrase, status=status, detail=detail, errors=errors or []
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return problem_response(exc.status_code, None, detail, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method of every route on the request's path, sorted (the ``Allow`` of a 405).

    Starlette's 405 lists only the methods of the first route whose path matched, so
    ``OPTIONS /v1/interactions`` advertised ``POST`` without the ``GET`` route of that path.
    """
    path = request.scope["path"]
    methods: set[str] = set()
    for ctx in iter_route_contexts(request.app.routes):
        if ctx.path_regex is not None and ctx.path_regex.match(path):
            methods |= set(ctx.methods or ())
    return sorted(methods)


MAX_LISTED_ERRORS = 20  # a 60,000-item body answered with 60,000 errors was 8 MB


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = exc.errors()
    errors = [_field_error(e) for e in found[:MAX_LISTED_ERRORS]]
    detail = f"{len(found)} field(s) are invalid"
    if len(found) > MAX_LISTED_ERRORS:
        detail += f"; the first {MAX_LISTED_ERRORS} are listed"
    return problem_response(422, "Invalid request", detail, errors)


def _field_error(error: Mapping[str, object]) -> FieldError:
    loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]  # type: ignore[attr-defined]
    if error.get("type") == "extra_forbidden":
        loc = loc[:-1]  # the unknown key is the client's text (it may be a code): name its parent
    return FieldError(
        loc=loc, msg=str(error.get("msg", "invalid")), type=str(error.get("type", "invalid"))
    )


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MedRecError)
    return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers)


domain_problem = negotiated(_domain_error)  # also app.api.gate's 503 for a full audit queue


def add_problem_handlers(app: FastAPI) -> None:
    """Map HTTP, validation and domain errors to problem+json.

    Unexpected errors are answered by ``RequestContextMiddleware`` (logged once, 500). FHIR
    callers get these answers as OperationOutcome (:func:`app.api.fhir.negotiated`).
    """
    app.add_exception_handler(HTTPException, negotiated(_http_error))
    app.add_exception_handler(RequestValidationError, negotiated(_validation_error))
    app.add_exception_handler(MedRecError, domain_problem)
