"""Pairwise interaction answers: known knowledge-base entries merged with predicted risk."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.crud import ddi as crud
from app.inference.pairs import PairRisk
from app.inference.registry import LoadedModel
from app.schemas.common import ModelRef
from app.schemas.interactions import (
    InteractionsPublic,
    KnownInteraction,
    PairPublic,
    TypeScorePublic,
)

_SEVERITY_ORDER = ("high", "moderate", "low", "unknown")


def pairs_of(drugs: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of the distinct drugs, each ordered ``a < b``."""
    return list(itertools.combinations(sorted(set(drugs)), 2))


def describe_pairs(
    *, session: Session, drugs: Sequence[str], pair_model: LoadedModel | None
) -> list[PairPublic]:
    """Answer every pair among ``drugs`` (ATC3): known entries, status and predicted risk."""
    pairs = pairs_of(drugs)
    if not pairs:
        return []
    known = crud.get_interactions(session=session, drugs=drugs)
    in_kb = crud.get_known_drugs(session=session, drugs=drugs)
    predictions = _predict(pairs, pair_model)
    out = []
    for pair, prediction in zip(pairs, predictions, strict=True):
        entries = known.get(pair, [])
        unknown = [d for d in pair if d not in in_kb]
        status = (
            "known_interaction"
            if entries
            else "unknown_drug"
            if unknown
            else "no_known_interaction"
        )
        answer = PairPublic(
            atc3_a=pair[0],
            atc3_b=pair[1],
            status=status,
            known=bool(entries),
            unknown_drugs=[] if entries else unknown,
            severity=min((e.severity for e in entries), key=_SEVERITY_ORDER.index, default=None),
            interactions=[
                KnownInteraction(
                    source=e.source,
                    source_version=e.source_version,
                    types=e.types,
                    severity=e.severity,
                )
                for e in entries
            ],
            prediction_note=prediction if isinstance(prediction, str) else None,
        )
        if isinstance(prediction, PairRisk) and pair_model is not None:
            answer.predicted_risk = prediction.risk
            answer.top_types = [
                TypeScorePublic(type=t.type, probability=t.probability)
                for t in prediction.top_types
            ]
            answer.model = ModelRef(
                name=pair_model.name, version=pair_model.version, sha256=pair_model.sha256
            )
        out.append(answer)
    return out


def _predict(pairs: list[tuple[str, str]], model: LoadedModel | None) -> list[PairRisk | str]:
    if model is None or model.pair_risk is None:
        return ["no pair-risk model is active"] * len(pairs)
    answers = model.pair_risk.predict(pairs)
    return [a if isinstance(a, PairRisk) else f"{a.reason}: {', '.join(a.drugs)}" for a in answers]


def summarize(pairs: Sequence[PairPublic]) -> tuple[float | None, float | None]:
    """Return the set's DDI rate (share of known-interacting pairs) and its max predicted risk."""
    if not pairs:
        return None, None
    rate = sum(p.known for p in pairs) / len(pairs)
    risks = [p.predicted_risk for p in pairs if p.predicted_risk is not None]
    return rate, max(risks, default=None)


def check_interactions(
    *, session: Session, drugs: Sequence[str], pair_model: LoadedModel | None
) -> InteractionsPublic:
    """The ``/v1/interactions`` answer for ATC codes of level ≥ 3 (compared at level 3)."""
    atc3s = sorted({d.strip().upper()[:4] for d in drugs})
    pairs = describe_pairs(session=session, drugs=atc3s, pair_model=pair_model)
    rate, risk = summarize(pairs)
    return InteractionsPublic(
        drugs=atc3s, pairs=pairs, count=len(pairs), ddi_rate=rate, max_risk=risk
    )
