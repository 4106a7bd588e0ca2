"""CDS Hooks 2.0: discovery (public), the two services and card feedback (client JWT)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi import Path as PathParam
from pydantic import ValidationError

from app.api.cds_auth import CdsClientDep
from app.api.deps import DdiDep, RegistryDep, SessionDep, SettingsDep, VocabDep, public
from app.crud.cds import create_feedback
from app.db.session import begin_write
from app.schemas.cds_hooks import CdsDiscoveryPublic, CdsRequest, CdsResponse, FeedbackCreate
from app.services import cds_hooks
from app.services.fhir_client import fetch

router = APIRouter(
    prefix="/cds-services",
    tags=["cds-hooks"],
    responses={
        400: {"description": "Malformed hook call (the fields at fault are named)"},
        401: {"description": "Missing, invalid, expired or replayed client JWT"},
        404: {"description": "No such service"},
    },
)
ServiceId = Annotated[str, PathParam(pattern=r"^[a-z-]{1,64}$")]


@router.get("", dependencies=[Depends(public)])
def discover() -> CdsDiscoveryPublic:
    """The services MedRec offers, with their hooks and prefetch templates."""
    return CdsDiscoveryPublic.model_validate({"services": cds_hooks.SERVICES})


def _parse(model: type[Any], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise HTTPException(400, f"invalid or missing fields: {', '.join(fields)}") from None


@router.post(
    "/{service_id}",
    response_model=CdsResponse,
    response_model_exclude_none=True,
    responses={
        412: {"description": "Prefetch data missing and not fetchable"},
        503: {"description": "No model loaded"},
    },  # fmt: skip
)
def call_service(
    service_id: ServiceId,
    body: Annotated[dict[str, Any], Body()],
    _client: CdsClientDep,
    session: SessionDep,
    ddi: DdiDep,
    vocab: VocabDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Answer one hook call with cards."""
    if service_id not in cds_hooks.HOOKS:
        raise HTTPException(404, "no such CDS service")
    call: CdsRequest = _parse(CdsRequest, body)
    if call.hook not in cds_hooks.HOOKS[service_id]:
        hooks = ", ".join(sorted(cds_hooks.HOOKS[service_id]))
        raise HTTPException(400, f"this service answers the hooks {hooks}")
    if not isinstance(call.context.get("patientId"), str):
        raise HTTPException(400, "invalid or missing fields: context.patientId")
    fetcher = None
    if call.fhirServer and call.fhirAuthorization:
        server, token = call.fhirServer, call.fhirAuthorization.access_token
        timeout = settings.cds_fhir_timeout_seconds

        def fetcher(key: str, query: str) -> dict[str, Any]:
            return fetch(server, query, token, timeout=timeout, key=key)

    resources = cds_hooks.prefetched(service_id, call.context, call.prefetch, fetcher)
    inputs = cds_hooks.CdsInputs(
        ddi=ddi.view(session),
        vocab=vocab.view(session),
        recommender=registry.find(settings.default_model),
        pair_model=registry.find(settings.pair_risk_model),
    )
    if service_id == cds_hooks.MEDICATION_CHECK:
        cards = cds_hooks.medication_check(call.hook, call.context, resources, inputs)
    else:
        cards = cds_hooks.recommend_cards(call.context, resources, inputs)
    return {"cards": cards}


@router.post("/{service_id}/feedback")
def post_feedback(
    service_id: ServiceId,
    body: Annotated[dict[str, Any], Body()],
    client: CdsClientDep,
    session: SessionDep,
) -> dict[str, int]:
    """Store what clinicians did with cards (accepted or overridden, with the reason)."""
    if service_id not in cds_hooks.HOOKS:
        raise HTTPException(404, "no such CDS service")
    feedback: FeedbackCreate = _parse(FeedbackCreate, body)
    begin_write(session)
    items = [
        {
            "card_uuid": f.card,
            "outcome": f.outcome,
            "override_reason": None
            if f.overrideReason is None or f.overrideReason.reason is None
            else f.overrideReason.reason.model_dump(exclude_none=True),
            "accepted_suggestions": [s.id for s in f.acceptedSuggestions],
            "outcome_at": f.outcomeTimestamp,
        }
        for f in feedback.feedback
    ]
    return {"stored": create_feedback(session=session, service_id=service_id,
                                      client_iss=client.iss, items=items)}  # fmt: skip
