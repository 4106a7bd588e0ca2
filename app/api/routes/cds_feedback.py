"""``GET /v1/cds-feedback`` (admin): what clinicians did with MedRec's CDS Hooks cards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import SessionDep, require_admin
from app.crud.cds import get_feedback
from app.schemas.cds_hooks import FeedbackListPublic, FeedbackPublic

router = APIRouter(
    prefix="/cds-feedback", tags=["cds-hooks"], dependencies=[Depends(require_admin)]
)


@router.get("")
def list_feedback(
    session: SessionDep,
    service: Annotated[str | None, Query(pattern=r"^[a-z-]{1,64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FeedbackListPublic:
    """Card feedback, newest first, optionally of one service."""
    rows = get_feedback(session=session, service_id=service, limit=limit)
    return FeedbackListPublic(
        data=[FeedbackPublic.model_validate(r) for r in rows], count=len(rows)
    )
