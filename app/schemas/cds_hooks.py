"""Schemas of the CDS Hooks 2.0 endpoints (field names as the specification spells them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Spec(BaseModel):
    # The specification lets clients add fields (extensions); unknown ones are ignored.
    model_config = ConfigDict(extra="ignore")


class FhirAuthorization(_Spec):
    """The client's token for its FHIR server."""

    access_token: str = Field(min_length=1, max_length=8192)
    token_type: Literal["Bearer"]
    expires_in: int | None = None
    scope: str = ""
    subject: str = ""


class CdsRequest(_Spec):
    """A hook call."""

    hook: str = Field(max_length=64)
    hookInstance: str = Field(max_length=128)  # noqa: N815 (the specification's name)
    fhirServer: str | None = Field(None, max_length=2048)  # noqa: N815
    fhirAuthorization: FhirAuthorization | None = None  # noqa: N815
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class CdsServicePublic(BaseModel):
    """One service in the discovery answer."""

    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]


class CdsDiscoveryPublic(BaseModel):
    """``GET /cds-services``."""

    services: list[CdsServicePublic]


class Coding(BaseModel):
    """A FHIR Coding."""

    system: str
    code: str
    display: str | None = None


class CardSource(BaseModel):
    """Who produced the card: MedRec and the model versions."""

    label: str


class Action(BaseModel):
    """One change a suggestion makes in the client."""

    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: list[str] | None = None  # noqa: N815


class Suggestion(BaseModel):
    """A set of actions the clinician may accept."""

    label: str
    uuid: str
    actions: list[Action]


class Card(BaseModel):
    """A decision-support card."""

    uuid: str
    summary: str = Field(max_length=140)
    indicator: Literal["info", "warning", "critical"]
    detail: str | None = None
    source: CardSource
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None  # noqa: N815
    overrideReasons: list[Coding] | None = None  # noqa: N815


class CdsResponse(BaseModel):
    """The cards of one hook call (serialised without nulls)."""

    cards: list[Card]


class OverrideReasonIn(_Spec):
    """Why a card was overridden."""

    reason: Coding | None = None
    userComment: str | None = Field(None, max_length=2000)  # noqa: N815


class AcceptedSuggestion(_Spec):
    """A suggestion that was accepted, by its uuid."""

    id: str = Field(max_length=128)


class FeedbackItem(_Spec):
    """What happened to one card."""

    card: str = Field(max_length=128)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list, max_length=50)  # noqa: N815
    overrideReason: OverrideReasonIn | None = None  # noqa: N815
    outcomeTimestamp: datetime  # noqa: N815


class FeedbackCreate(_Spec):
    """``POST /cds-services/{id}/feedback``."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


class FeedbackPublic(BaseModel):
    """One stored feedback item (admin)."""

    model_config = ConfigDict(from_attributes=True)

    service_id: str
    card_uuid: str
    outcome: str
    override_reason: dict[str, Any] | None
    accepted_suggestions: list[str]
    outcome_at: datetime
    client_iss: str
    created_at: datetime


class FeedbackListPublic(BaseModel):
    """Stored feedback, newest first."""

    data: list[FeedbackPublic]
    count: int
