"""Pairwise interaction answers: known knowledge-base entries merged with predicted risk."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.inference.pair_risk import PairRisk
from app.inference.registry import LoadedModel
from app.schemas.common import ModelRef
from app.schemas.interactions import (
    InteractionsPublic,
    KnownInteraction,
    MedicationCodeIn,
    PairPublic,
    TypeScorePublic,
    UnmappedDrugPublic,
)
from app.services.ddi_snapshot import DdiSnapshot, DdiTableView
from app.services.medication_codes import resolve
from app.services.vocab_snapshot import MappedCode, VocabView

_SEVERITY_ORDER = ("high", "moderate", "low", "unknown")
_MAX_SHARED_ANSWERS = 100_000  # per snapshot version; ATC3 has a few hundred classes


def pairs_of(drugs: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of the distinct drugs, each ordered ``a < b``."""
    return list(itertools.combinations(sorted(set(drugs)), 2))


def describe_pairs(
    *,
    session: Session,
    ddi: DdiSnapshot,
    drugs: Sequence[str],
    pair_model: LoadedModel | None,
) -> list[PairPublic]:
    """Answer every pair among ``drugs`` (ATC3): known entries, status and predicted risk.

    Known entries come from the worker's DDI snapshot (revalidated through ``session`` when
    due; see :mod:`app.services.ddi_snapshot` for how stale it may be).
    """
    pairs = pairs_of(drugs)
    if not pairs:
        return []
    view = ddi.view(session)
    out = []
    for pair, prediction in zip(pairs, _predict(pairs, pair_model), strict=True):
        if isinstance(prediction, PairRisk) and pair_model is not None:
            answer = _known_answer(view, pair, None).model_copy(
                update={
                    "predicted_risk": prediction.risk,
                    "top_types": [
                        TypeScorePublic(type=t.type, probability=t.probability)
                        for t in prediction.top_types
                    ],
                    "model": ModelRef(
                        name=pair_model.name, version=pair_model.version, sha256=pair_model.sha256
                    ),
                }
            )
        else:
            answer = _known_answer(view, pair, prediction if isinstance(prediction, str) else None)
        out.append(answer)
    return out


def _known_answer(view: DdiTableView, pair: tuple[str, str], note: str | None) -> PairPublic:
    # Built once per snapshot version and shared between responses, which only read it: a
    # recommendation has ~100 pairs, and validating each answer anew cost ~1 ms a request.
    key = (pair, note)
    answer = view.answers.get(key)
    if answer is None:
        answer = _build_answer(view, pair, note)
        if len(view.answers) < _MAX_SHARED_ANSWERS:
            view.answers[key] = answer
    return answer


def _build_answer(view: DdiTableView, pair: tuple[str, str], note: str | None) -> PairPublic:
    entries = view.pairs.get(pair, ())
    unknown = [d for d in pair if d not in view.drugs]
    status = (
        "known_interaction" if entries else "unknown_drug" if unknown else "no_known_interaction"
    )
    return PairPublic(
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
                types=list(e.types),
                severity=e.severity,
            )
            for e in entries
        ],
        prediction_note=note,
    )


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
    *,
    session: Session,
    ddi: DdiSnapshot,
    vocab: VocabView,
    drugs: Sequence[str | MedicationCodeIn],
    pair_model: LoadedModel | None,
) -> InteractionsPublic:
    """The ``/v1/interactions`` answer, compared at ATC level 3.

    ATC codes are used as given; RxNorm and NDC codes map through ``vocab``, and those that map
    to no class are listed in ``unmapped`` with the reason.
    """
    classes: set[str] = set()
    unmapped = []
    for i, drug in enumerate(drugs):
        found = resolve(vocab, drug)
        if isinstance(found, MappedCode):
            classes.update(found.atc3)
        else:
            unmapped.append(
                UnmappedDrugPublic(index=i, system=found.system, code=found.code,
                                   reason=found.reason)
            )  # fmt: skip
    atc3s = sorted(classes)
    pairs = describe_pairs(session=session, ddi=ddi, drugs=atc3s, pair_model=pair_model)
    rate, risk = summarize(pairs)
    displays = {d: name for d in atc3s if (name := vocab.display(d))}
    return InteractionsPublic(
        drugs=atc3s, pairs=pairs, count=len(pairs), ddi_rate=rate, max_risk=risk,
        unmapped=unmapped, displays=displays,
    )  # fmt: skip
