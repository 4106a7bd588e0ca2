"""``/v1/interactions``: pairwise DDI answers, and loading the knowledge base (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.api.deps import (
    DdiDep,
    Serving,
    ServingDep,
    SessionDep,
    require_admin,
    require_clinician,
    writes,
)
from app.api.responses import OrjsonResponse
from app.contract.codes import ATC_PATTERN
from app.crud.ddi import count_interactions, load_interactions
from app.inference.registry import LoadedModel
from app.schemas.interactions import (
    DdiTableCreate,
    DdiTablePublic,
    InteractionQuery,
    InteractionsPublic,
)
from app.services.ddi_csv import parse_ddi_csv
from app.services.interactions import check_interactions

router = APIRouter(prefix="/interactions", tags=["interactions"])
_ATC = ATC_PATTERN.strip("^$")
_DRUG_LIST = f"^{_ATC}(,{_ATC}){{1,49}}$"


def _pair_model(serving: Serving) -> LoadedModel | None:
    return serving.registry.find(serving.settings.pair_risk_model)


# The two queries are lookups in memory (no I/O): they run on the event loop, no thread hop.
@router.post("", dependencies=[Depends(require_clinician)], response_model=InteractionsPublic)
async def post_interactions(
    body: InteractionQuery,
    serving: ServingDep,
) -> OrjsonResponse:
    """Every pair among the drugs: known interactions (source, types, severity), predicted risk."""
    answer = check_interactions(
        view=serving.ddi, vocab=serving.vocab, drugs=body.drugs, pair_model=_pair_model(serving)
    )
    return OrjsonResponse(answer)


@router.get("", dependencies=[Depends(require_clinician)], response_model=InteractionsPublic)
async def get_interactions(
    drugs: Annotated[
        str,
        Query(
            max_length=500,
            pattern=_DRUG_LIST,
            description="2 to 50 comma-separated ATC codes (level 3 or deeper)",
            examples=["N02BE01,B01AC06"],
        ),
    ],
    serving: ServingDep,
) -> OrjsonResponse:
    """The same answer as ``POST``, for ``?drugs=A,B``."""
    try:
        query = InteractionQuery(drugs=[d.strip() for d in drugs.split(",")])
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", "drugs", *e["loc"][1:])} for e in exc.errors()]
        ) from None
    answer = check_interactions(
        view=serving.ddi, vocab=serving.vocab, drugs=query.drugs, pair_model=_pair_model(serving)
    )
    return OrjsonResponse(answer)


@router.post("/known", dependencies=[Depends(require_admin), Depends(writes)], status_code=201)
def load_known_interactions(
    body: DdiTableCreate, session: SessionDep, ddi: DdiDep
) -> DdiTablePublic:
    """Load a DDI table (CSV text) into the knowledge base (admin)."""
    rows = parse_ddi_csv(body.csv, default_source=body.source)
    loaded = load_interactions(
        session=session, rows=rows, source_version=body.source_version, replace=body.replace
    )
    ddi.invalidate()  # this worker sees the load at once; the others within their max age
    return DdiTablePublic(
        loaded=loaded, source_version=body.source_version, total=count_interactions(session=session)
    )
