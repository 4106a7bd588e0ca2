"""Medications as requests name them (ATC, RxNorm, NDC), mapped to the models' ATC3 classes.

A code of RxNorm or NDC maps through the worker's :class:`~app.services.vocab_snapshot.VocabView`
to one or more ATC3 classes (combination products have several); one that maps to none is listed
with its reason, never silently dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from app.contract.visits import RawVisit
from app.inference.recommender import Recommendation, UnknownCode
from app.schemas.interactions import MedicationCodeIn
from app.schemas.recommendations import VisitIn
from app.services.vocab_snapshot import MappedCode, UnmappedCode, VocabView

_FIELD_ORDER = {"diagnoses": 0, "procedures": 1, "medications": 2}  # as the recommender lists them


def resolve(view: VocabView, drug: str | MedicationCodeIn) -> MappedCode | UnmappedCode:
    """Map one requested medication (a bare string is an ATC code) to its ATC3 classes."""
    if isinstance(drug, str):
        return view.resolve("atc", drug)
    return view.resolve(drug.system, drug.code)


@dataclass(frozen=True)
class PreparedVisits:
    """Visits with ATC3 medications, and where each mapped class came from.

    ``origins[v][i]`` is the request index of the medication behind ``visits[v].medications[i]``,
    so the recommender's answers about a medication point at what the caller sent.
    """

    visits: list[RawVisit]
    unmapped: list[UnknownCode]
    origins: list[list[tuple[int, str, str]]]


def prepare_visits(visits: Sequence[VisitIn], view: VocabView) -> PreparedVisits:
    """Turn request visits into raw visits, mapping every medication to ATC3."""
    raw, unmapped, origins = [], [], []
    for v, visit in enumerate(visits):
        meds: list[str] = []
        origin: list[tuple[int, str, str]] = []
        for j, drug in enumerate(visit.medications):
            found = resolve(view, drug)
            if isinstance(found, UnmappedCode):
                unmapped.append(UnknownCode(v, "medications", j, found.code, found.system,
                                            found.reason))  # fmt: skip
                continue
            for cls in found.atc3:
                meds.append(cls)
                origin.append((j, found.system, found.code))
        raw.append(
            RawVisit(
                diagnoses=[(c.system, c.code) for c in visit.diagnoses],
                procedures=[(c.system, c.code) for c in visit.procedures],
                medications=meds,
            )
        )
        origins.append(origin)
    return PreparedVisits(raw, unmapped, origins)


def restore_origins(result: Recommendation, prepared: PreparedVisits) -> Recommendation:
    """Point the recommender's medication answers at the request's indexes; add the unmapped."""
    unknown = []
    for u in result.unknown_codes:
        if u.field == "medications":
            index, system, code = prepared.origins[u.visit][u.index]
            u = dataclasses.replace(u, index=index, system=system, code=code)
        unknown.append(u)
    merged = sorted(
        [*unknown, *prepared.unmapped], key=lambda u: (u.visit, _FIELD_ORDER[u.field], u.index)
    )
    return dataclasses.replace(result, unknown_codes=merged)
