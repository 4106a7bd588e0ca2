"""The CDS Hooks trust dependency: the client's JWT (``Authorization: Bearer``), every call.

Verification is :mod:`app.services.cds_trust`; the token's ``jti`` is then recorded, so a
replay (on any worker) is refused. Like the API-key dependency it is
:func:`app.api.deps.audited`, so every call writes one audit event.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, SettingsDep, audited
from app.crud.cds import create_token_id
from app.db.session import begin_write
from app.services.cds_trust import CdsTrust, TokenRefused, VerifiedToken

bearer_scheme = HTTPBearer(auto_error=False, description="The CDS client's signed JWT")


async def get_cds_trust(request: Request) -> CdsTrust:
    """The worker's CDS client verifier."""
    trust: CdsTrust = request.state.cds_trust
    return trust


@audited
async def get_cds_client(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    trust: Annotated[CdsTrust, Depends(get_cds_trust)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> VerifiedToken:
    """The verified client token; 401 (with the reason, never the token) otherwise.

    The audience is the invoked service's URL, ``<MEDREC_CDS_BASE_URL>/cds-services/<id>``
    (its ``/feedback`` URL is accepted for feedback).
    """
    if credentials is None:
        raise _refused("a signed JWT is required (Authorization: Bearer)")
    base = (settings.cds_base_url or str(request.base_url)).rstrip("/")
    service = f"{base}/cds-services/{request.path_params.get('service_id', '')}"
    audiences = [service, f"{service}/feedback"] if request.url.path.endswith("/feedback") else [
        service]  # fmt: skip
    return await run_in_threadpool(_verify, trust, session, credentials.credentials, audiences)


def _verify(trust: CdsTrust, session: Session, token: str, audiences: list[str]) -> VerifiedToken:
    try:
        verified = trust.verify(token, audiences)
    except TokenRefused as exc:
        raise _refused(exc.reason) from None
    if session.in_transaction():
        session.commit()
    begin_write(session)
    if not create_token_id(
        session=session, iss=verified.iss, jti=verified.jti, expires_at=verified.expires_at
    ):
        raise _refused("token replayed: its jti was used before")
    return verified


def _refused(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


CdsClientDep = Annotated[VerifiedToken, Depends(get_cds_client)]
