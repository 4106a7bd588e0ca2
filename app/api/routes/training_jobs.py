"""Training jobs (admin): submit an export, follow progress, read the result, cancel."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, ValidationError

from app.api.deps import SessionDep, SettingsDep, require_admin
from app.api.openapi import RETRY_AFTER
from app.crud import training_jobs as crud
from app.db.models import ApiKey, TrainingJob
from app.jobs.cleanup import cancel_job
from app.jobs.submit import submit_job
from app.jobs.uploads import UploadRefused, resolve_import
from app.schemas.training_jobs import (
    JobFormat,
    JobModel,
    JobState,
    TrainingJobImport,
    TrainingJobPublic,
    TrainingJobsPublic,
    TrainingParams,
)

router = APIRouter(
    prefix="/training-jobs",
    tags=["training-jobs"],
    responses={404: {"description": "No such job"}},
)
AdminKey = Annotated[ApiKey, Depends(require_admin)]
_SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queued"},
    413: {"description": "Upload over the limit"},
    422: {"description": "Invalid parameters, or an unsafe archive (zip bomb, path escape)"},
    429: {
        "description": "Too many queued or running jobs, or the key's rate limit is spent",
        "headers": RETRY_AFTER,
    },
}


# ``name=value``: a reader option's name is an identifier (``atc_mapping``, ``min_visits``).
ReaderOption = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,63}=")]


def _reader_options(items: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def _params(**fields: Any) -> TrainingParams:
    """The form's parameters validated as the import route's body; a refusal is a 422.

    An error is reported at its form field alone: a reader option's key is the client's text.
    """
    try:
        return TrainingParams(**fields)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"][:1])} for e in exc.errors()]
        ) from None


def _public(row: TrainingJob) -> TrainingJobPublic:
    return TrainingJobPublic.model_validate(row)


@router.post("", status_code=202, responses=_SUBMIT_ERRORS)
def create_training_job(
    session: SessionDep,
    settings: SettingsDep,
    key: AdminKey,
    file: Annotated[UploadFile, File(description="A zip of the export, or one file.")],
    format: Annotated[JobFormat, Form()],
    model: Annotated[JobModel, Form()] = "gamenet",
    epochs: Annotated[
        int, Form(ge=1, le=500, description="GAMENet: training; G-BERT: fine-tuning epochs.")
    ] = 10,
    pretrain_epochs: Annotated[
        int, Form(ge=0, le=500, description="G-BERT: pre-training epochs (0: the trainer's).")
    ] = 0,
    dha_epochs: Annotated[
        int,
        Form(ge=0, le=500, description="G-BERT: pre-training epochs after DHA (0: the trainer's)."),
    ] = 0,
    seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
    split: Annotated[Literal["literature", "random"], Form()] = "literature",
    reader: Annotated[
        list[ReaderOption],
        Form(max_length=32, description="Reader options as key=value (value JSON or text)."),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    mappings: Annotated[
        list[UploadFile], File(description="Mapping files a reader option may name.")
    ] = [],  # noqa: B006
) -> TrainingJobPublic:
    """Upload an export (zip or one file) and queue a training job.

    ``model``: ``gamenet``, or ``gbert`` (pre-training, the DHA conversion and fine-tuning as one
    job; progress counts the epochs of all three stages).
    """
    params = _params(
        epochs=epochs,
        pretrain_epochs=pretrain_epochs or None,
        dha_epochs=dha_epochs or None,
        seed=seed,
        split=split,
        reader=_reader_options(reader),
    )
    row = submit_job(
        session=session,
        settings=settings,
        format=format,
        model=model,
        params=params.model_dump(exclude_none=True),
        upload=(file.filename or "upload", file.file),
        mappings=[(m.filename or "mapping", m.file) for m in mappings],
        created_by_key_id=key.id,
    )
    return _public(row)


@router.post(
    "/import",
    status_code=202,
    responses={**_SUBMIT_ERRORS, 403: {"description": "source_path outside the import dir"}},
)
def import_training_job(
    body: TrainingJobImport, session: SessionDep, settings: SettingsDep, key: AdminKey
) -> TrainingJobPublic:
    """Queue a training job on an export already on the server, under the import directory."""
    try:
        source = resolve_import(body.source_path, settings.import_dir)
    except UploadRefused as exc:
        status = 404 if "does not exist" in exc.detail else 403
        raise HTTPException(status, exc.detail) from None
    row = submit_job(
        session=session,
        settings=settings,
        format=body.format,
        model=body.model,
        params=body.params.model_dump(exclude_none=True),
        source=source,
        created_by_key_id=key.id,
    )
    return _public(row)


@router.get("", dependencies=[Depends(require_admin)])
def list_training_jobs(
    session: SessionDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TrainingJobsPublic:
    """Jobs, newest first."""
    rows = crud.get_training_jobs(session=session, state=state, limit=limit)
    return TrainingJobsPublic(data=[_public(r) for r in rows], count=len(rows))


# ``:uuid`` routes only ids here: ``GET /import`` is a 405 (POST only), not an invalid id.
@router.get("/{job_id:uuid}", dependencies=[Depends(require_admin)])
def get_training_job(job_id: uuid.UUID, session: SessionDep) -> TrainingJobPublic:
    """State, progress, epoch, validation metrics, log tail, result and comparison report."""
    row = crud.get_training_job(session=session, job_id=job_id)
    if row is None:
        raise HTTPException(404, "training job not found")
    return _public(row)


@router.post("/{job_id:uuid}/cancel", dependencies=[Depends(require_admin)])
def cancel_training_job(job_id: uuid.UUID, session: SessionDep) -> TrainingJobPublic:
    """Cancel a queued or running job and remove its files (a finished job is unchanged)."""
    row = cancel_job(session=session, job_id=job_id)
    if row is None:
        raise HTTPException(404, "training job not found")
    return _public(row)
