"""The model registry (admin): list, register, activate (rollback = activate an older version).

And each version's evaluation report, as a page beside the active version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from app.api.deps import RegistryDep, SessionDep, SettingsDep, require_admin
from app.crud import model_versions as crud
from app.db.models import ModelVersion
from app.inference.registry import ModelRegistry
from app.schemas.models import ModelVersionCreate, ModelVersionPublic, ModelVersionsPublic
from app.services.models import activate_version, register_artifact
from app.services.version_report import REPORT_CSP, version_report_page

router = APIRouter(
    prefix="/models",
    tags=["models"],
    dependencies=[Depends(require_admin)],
    responses={
        404: {"description": "Not registered"},
        409: {"description": "Conflict or failed activation"},
    },
)
NameParam = Annotated[str, PathParam(pattern=r"^[a-z]{1,32}$")]
VersionParam = Annotated[int, PathParam(ge=1, le=1_000_000_000)]


def _public(row: ModelVersion, registry: ModelRegistry) -> ModelVersionPublic:
    served = registry.find(row.name)
    loaded = served is not None and served.version == row.version
    return ModelVersionPublic.model_validate(row).model_copy(update={"loaded": loaded})


@router.get("")
def list_models(session: SessionDep, registry: RegistryDep) -> ModelVersionsPublic:
    """Every registered model version."""
    rows = crud.get_model_versions(session=session)
    return ModelVersionsPublic(data=[_public(r, registry) for r in rows], count=len(rows))


@router.get("/{name}")
def get_model(name: NameParam, session: SessionDep, registry: RegistryDep) -> ModelVersionsPublic:
    """The versions of one model."""
    rows = crud.get_model_versions(session=session, name=name)
    if not rows:
        raise HTTPException(404, "model not registered")
    return ModelVersionsPublic(data=[_public(r, registry) for r in rows], count=len(rows))


@router.post(
    "",
    status_code=201,
    responses={
        403: {"description": "Path outside the artifacts/import directory, or a link"},
        422: {"description": "Invalid artifact"},
    },
)
def register_model(
    body: ModelVersionCreate, session: SessionDep, registry: RegistryDep, settings: SettingsDep
) -> ModelVersionPublic:
    """Register an artifact directory under the server's artifacts (or import) directory."""
    roots = [settings.artifacts_dir, *([settings.import_dir] if settings.import_dir else [])]
    row = register_artifact(session=session, path=Path(body.path), roots=roots)
    if body.activate:
        row = activate_version(
            session=session, registry=registry, name=row.name, version=row.version
        )
    return _public(row, registry)


@router.post("/{name}/versions/{version}/activate")
def activate_model(
    name: NameParam, version: VersionParam, session: SessionDep, registry: RegistryDep
) -> ModelVersionPublic:
    """Verify, warm up and serve this version; the previous one serves until the swap."""
    row = activate_version(session=session, registry=registry, name=name, version=version)
    return _public(row, registry)


REPORT_HEADERS = {
    "Content-Security-Policy": REPORT_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@router.get(
    "/{name}/versions/{version}/report",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "The report page"},
        404: {"description": "Not registered, or the version has no report"},
        422: {"description": "The report is too large"},
    },
)
def get_model_report(name: NameParam, version: VersionParam, session: SessionDep) -> HTMLResponse:
    """The version's evaluation report (tables, curves) with the active version beside it."""
    page = version_report_page(session=session, name=name, version=version)
    return HTMLResponse(page, headers=REPORT_HEADERS)
