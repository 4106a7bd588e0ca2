"""``application/problem+json`` (RFC 9457) answers for every error, registered in ``create_app``.

Validation errors name the field path and the rule broken, never the submitted value (codes are
PHI): only pydantic's ``loc``, ``msg`` and ``type`` are copied, never ``input`` or ``ctx``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.api.fhir import negotiated
from app.errors import MedRecError
from app.schemas.common import FieldError, Problem

logger = logging.getLogger(__name__)
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


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, None, detail, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            msg=str(e.get("msg", "invalid")),
            type=str(e.get("type", "invalid")),
        )
        for e in exc.errors()
    ]
    return problem_response(422, "Invalid request", f"{len(errors)} field(s) are invalid", errors)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MedRecError)
    return problem_response(exc.status, exc.title, exc.detail)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.scope.get("path"))
    return problem_response(500, "Internal error", "see the server log for this request id")


def add_problem_handlers(app: FastAPI) -> None:
    """Map HTTP, validation, domain and unexpected errors to problem+json.

    FHIR callers get the same answers as OperationOutcome (:func:`app.api.fhir.negotiated`).
    """
    app.add_exception_handler(HTTPException, negotiated(_http_error))
    app.add_exception_handler(RequestValidationError, negotiated(_validation_error))
    app.add_exception_handler(MedRecError, negotiated(_domain_error))
    app.add_exception_handler(Exception, negotiated(_unexpected))
