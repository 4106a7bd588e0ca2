"""API keys (admin): list, create, revoke, rotate.

A revocation (or rotation) here takes effect at once on this worker and within
``MEDREC_API_KEY_CACHE_SECONDS`` (default 30 s) on every other (:mod:`app.services.key_cache`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, HTTPException

from app.api.deps import KeyCacheDep, SessionDep, SettingsDep, require_admin, writes
from app.crud import api_keys as crud
from app.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeysPublic

router = APIRouter(
    prefix="/api-keys",
    tags=["api-keys"],
    dependencies=[Depends(require_admin)],
    responses={404: {"description": "No such key (or, to rotate, no such active key)"}},
)


@router.get("")
def list_keys(session: SessionDep) -> ApiKeysPublic:
    """Every key with its role, last use and revocation time."""
    rows = crud.get_api_keys(session=session)
    return ApiKeysPublic(data=[ApiKeyPublic.model_validate(r) for r in rows], count=len(rows))


@router.post("", status_code=201, dependencies=[Depends(writes)])
def create_key(body: ApiKeyCreate, session: SessionDep, settings: SettingsDep) -> ApiKeyCreated:
    """Create a key; its secret is in this answer only."""
    row, plaintext = crud.create_api_key(
        session=session, name=body.name, role=body.role,
        pepper=settings.api_key_pepper.get_secret_value(),
    )  # fmt: skip
    return ApiKeyCreated.model_validate({**ApiKeyPublic.model_validate(row).model_dump(),
                                         "key": plaintext})  # fmt: skip


@router.post("/{key_id}/revoke", dependencies=[Depends(writes)])
def revoke_key(key_id: uuid.UUID, session: SessionDep, cache: KeyCacheDep) -> ApiKeyPublic:
    """Revoke a key (idempotent)."""
    row = crud.revoke_api_key(session=session, key_id=key_id)
    if row is None:
        raise HTTPException(404, "no such key")
    cache.forget(key_id)
    return ApiKeyPublic.model_validate(row)


@router.post("/{key_id}/rotate", status_code=201, dependencies=[Depends(writes)])
def rotate_key(
    key_id: uuid.UUID, session: SessionDep, settings: SettingsDep, cache: KeyCacheDep
) -> ApiKeyCreated:
    """Revoke an active key and create its successor (same name and role)."""
    rotated = crud.rotate_api_key(
        session=session, key_id=key_id, pepper=settings.api_key_pepper.get_secret_value()
    )
    if rotated is None:
        raise HTTPException(404, "no such active key")
    cache.forget(key_id)
    row, plaintext = rotated
    return ApiKeyCreated.model_validate({**ApiKeyPublic.model_validate(row).model_dump(),
                                         "key": plaintext})  # fmt: skip
