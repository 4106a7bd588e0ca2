"""Pairwise interaction answers: known knowledge-base entries merged with predicted risk."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.inference.pair_risk import PairRisk, UnknownDrug
from app.inference.pair_table import PairRiskTable
from app.inference.registry import LoadedModel
from app.schemas.common import ModelRef
from app.schemas.interactions import (
    KnownInteraction,
    MedicationCodeIn,
    PairPublic,
    TypeScorePublic,
    UnmappedDrugPublic,
)
from app.services.ddi_snapshot import DdiTableView
from app.services.medication_codes import resolve
from app.services.vocab_snapshot import MappedCode, VocabView

_SEVERITY_ORDER = ("high", "moderate", "low", "unknown")
_MAX_SHARED_ANSWERS = 100_000  # per snapshot version; ATC3 has a few hundred classes
NO_PAIR_MODEL = "no pair-risk model is active"


def pairs_of(drugs: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of the distinct drugs, each ordered ``a < b``."""
    return list(itertools.combinations(sorted(set(drugs)), 2))


@dataclass(frozen=True)
class PairAssessment:
    """The pairs of a drug set: those asked for, and counts and risk over all of them.

    ``pairs`` and ``pair_model`` are JSON-ready dicts of :class:`PairPublic` and
    :class:`ModelRef`, validated by their schema when built and shared between responses.
    """

    pairs: list[dict[str, Any]]
    count: int
    known_count: int
    ddi_rate: float | None
    max_risk: float | None
    pair_model: dict[str, Any] | None
    prediction_note: str | None


@dataclass(frozen=True)
class InteractionsAnswer:
    """The ``/v1/interactions`` answer; its fields are :class:`InteractionsPublic`'s."""

    drugs: list[str]
    pair_model: dict[str, Any] | None
    prediction_note: str | None
    pairs: list[dict[str, Any]]
    count: int
    ddi_rate: float | None
    max_risk: float | None
    unmapped: list[dict[str, Any]]
    displays: dict[str, str]


def assess_pairs(
    *,
    view: DdiTableView,
    drugs: Sequence[str],
    pair_model: LoadedModel | None,
    risk_threshold: float | None,
) -> PairAssessment:
    """Answer the pairs among ``drugs`` (ATC3) by lookup: known entries and predicted risk.

    Every pair is counted; a pair is answered in full when it is a known interaction or its
    predicted risk is at least ``risk_threshold`` (every pair when ``risk_threshold`` is None).
    Known entries come from ``view``, a version of the worker's DDI snapshot (see
    :mod:`app.services.ddi_snapshot` for how stale it may be); predicted risks from the pair
    model's table, computed when it was activated (:mod:`app.inference.pair_table`). No I/O.
    """
    table = pair_model.pair_risk if pair_model is not None else None
    ref = None if pair_model is None or table is None else _ref(pair_model)
    note = None if table is not None else NO_PAIR_MODEL
    names = sorted(set(drugs))
    pairs = pairs_of(names)  # in the order of risks_among(names)
    if not pairs:
        return PairAssessment([], 0, 0, None, None, ref, note)
    known_pairs = view.pairs
    known = [pair in known_pairs for pair in pairs]
    # NaN (unscored, or no pair model) compares False: such a pair is not "above".
    risks = table.risks_among(names) if table is not None else np.full(len(pairs), np.nan)
    above = risks >= risk_threshold if risk_threshold is not None else np.ones(len(pairs))
    listed = [
        _answer(view, pair, table, ref)
        for pair, is_known, is_above in zip(pairs, known, above.tolist(), strict=True)
        if is_known or is_above
    ]
    n_known = sum(known)
    scored = risks[~np.isnan(risks)]
    max_risk = float(scored.max()) if len(scored) else None
    return PairAssessment(listed, len(pairs), n_known, n_known / len(pairs), max_risk, ref, note)


def _ref(model: LoadedModel) -> dict[str, Any]:
    return _version_ref(model.name, model.version, model.sha256)


@functools.lru_cache(maxsize=64)
def _version_ref(name: str, version: int, sha256: str) -> dict[str, Any]:
    # Built and validated once per version and shared between responses, which only read it.
    return ModelRef(name=name, version=version, sha256=sha256).model_dump()


def _answer(
    view: DdiTableView,
    pair: tuple[str, str],
    table: PairRiskTable | None,
    ref: dict[str, Any] | None,
) -> dict[str, Any]:
    # Built once per snapshot version and pair-model version and shared between responses,
    # which only read them: validating each answer anew cost more than the model itself.
    key = (pair, None if ref is None else ref["sha256"])
    answer = view.answers.get(key)
    if answer is None:
        prediction = None if table is None else table.predict([pair])[0]
        answer = _build_answer(view, pair, prediction).model_dump(mode="json")
        if len(view.answers) < _MAX_SHARED_ANSWERS:
            view.answers[key] = answer
    return answer


def _build_answer(
    view: DdiTableView, pair: tuple[str, str], prediction: PairRisk | UnknownDrug | None
) -> PairPublic:
    entries = view.pairs.get(pair, ())
    unknown = [d for d in pair if d not in view.drugs]
    status = (
        "known_interaction" if entries else "unknown_drug" if unknown else "no_known_interaction"
    )
    predicted: dict[str, Any] = {}
    if isinstance(prediction, PairRisk):
        predicted["predicted_risk"] = prediction.risk
        predicted["top_types"] = [
            TypeScorePublic(type=t.type, probability=t.probability) for t in prediction.top_types
        ]
    elif isinstance(prediction, UnknownDrug):
        predicted["prediction_note"] = f"{prediction.reason}: {', '.join(prediction.drugs)}"
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
        **predicted,
    )


def check_interactions(
    *,
    view: DdiTableView,
    vocab: VocabView,
    drugs: Sequence[str | MedicationCodeIn],
    pair_model: LoadedModel | None,
) -> InteractionsAnswer:
    """The ``/v1/interactions`` answer, compared at ATC level 3.

    ATC codes are used as given; RxNorm and NDC codes map through ``vocab``, and those that map
    to no class are listed in ``unmapped`` with the reason.
    """
    classes: set[str] = set()
    unmapped = []
    for i, drug in enumerate(drugs):
        resolved = resolve(vocab, drug)
        if isinstance(resolved, MappedCode):
            classes.update(resolved.atc3)
        else:
            unmapped.append(
                UnmappedDrugPublic(
                    index=i, system=resolved.system, code=resolved.code, reason=resolved.reason
                ).model_dump()
            )
    atc3s = sorted(classes)
    found = assess_pairs(view=view, drugs=atc3s, pair_model=pair_model, risk_threshold=None)
    return InteractionsAnswer(
        drugs=atc3s,
        pair_model=found.pair_model,
        prediction_note=found.prediction_note,
        pairs=found.pairs,
        count=found.count,
        ddi_rate=found.ddi_rate,
        max_risk=found.max_risk,
        unmapped=unmapped,
        displays={d: name for d in atc3s if (name := vocab.display(d))},
    )
