"""Schemas of ``POST /v1/recommendations``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from app.schemas.common import JSON_INT, ModelRef, Strict
from app.schemas.interactions import (
    PAIR_EXAMPLE,
    PAIR_MODEL_EXAMPLE,
    AtcCode,
    MedicationCodeIn,
    PairPublic,
)

RawCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9. ]{1,20}$")]
# The systems a model knows come from its manifest (icd9cm, icd10cm, icd9proc, icd10pcs, snomed
# for a model trained on Synthea or FHIR...); a request naming another one is refused with 422.
SystemName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]{1,32}$"),
    Field(examples=["icd9cm", "icd10cm", "icd9proc", "icd10pcs", "snomed"]),
]


class DiagnosisIn(Strict):
    """A diagnosis code; dots are optional (``401.9`` and ``4019`` are the same code)."""

    system: SystemName
    code: RawCode


class ProcedureIn(Strict):
    """A procedure code; dots are optional."""

    system: SystemName
    code: RawCode


class VisitIn(Strict):
    """One visit. ``medications`` are used for past visits only.

    A medication is an ATC code (level ≥ 3) or ``{"system": "rxnorm"|"ndc"|"atc", "code": ...}``;
    RxNorm and NDC codes are mapped to ATC3 through the loaded code maps (``medrec vocab load``).
    """

    # 30 + 10 codes is the default ``max_codes_per_visit`` (40): the published schema accepts
    # only what the server does, and the worst such request stays under 100 ms
    # (bench/request_limits.py). MIMIC-III admissions have at most 39 diagnoses.
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=30)
    procedures: list[ProcedureIn] = Field(default_factory=list, max_length=10)
    medications: list[AtcCode | MedicationCodeIn] = Field(default_factory=list, max_length=500)


_EXAMPLE: dict[str, Any] = {
    "visits": [
        {
            "diagnoses": [{"system": "icd9cm", "code": "401.9"}],
            "procedures": [{"system": "icd9proc", "code": "38.93"}],
            "medications": ["C07AB02", {"system": "rxnorm", "code": "866924"}],
        },
        {
            "diagnoses": [
                {"system": "icd9cm", "code": "428.0"},
                {"system": "icd9cm", "code": "4019"},
            ]
        },
    ],
    "top_k": 5,
    "max_ddi_rate": 0.2,
}


class FhirBundleIn(BaseModel):
    """A FHIR R4 Bundle of Condition, Procedure, MedicationRequest, Medication and Encounter.

    Only its shape is checked here; :mod:`app.services.fhir_input` reads the resources.
    """

    model_config = ConfigDict(extra="allow")

    resourceType: Literal["Bundle"]  # noqa: N815 (FHIR's name)
    entry: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)


class RecommendationCreate(Strict):
    """A patient's visits in time order; the last one is the visit to recommend for.

    A FHIR ``Bundle`` may be posted instead (``Content-Type: application/fhir+json``); it is
    kept in ``bundle`` and turned into visits with the active model's systems.
    """

    # The published schema is the JSON form's: ``visits`` is required there (a Bundle, which
    # brings its own visits, is another content type).
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [_EXAMPLE], "required": ["visits"]}
    )

    visits: list[VisitIn] = Field(  # at most the default max_visits; a Bundle brings its own
        default_factory=list, max_length=20, json_schema_extra={"minItems": 1}
    )
    bundle: SkipJsonSchema[FhirBundleIn | None] = Field(None, exclude=True)
    model: str | None = Field(
        None, pattern=r"^[a-z]{1,32}(@[0-9]{1,9})?$", description="`name` or `name@version`"
    )
    top_k: Annotated[int, Field(ge=1, le=500), *JSON_INT] | None = None
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    max_ddi_rate: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Largest known-DDI rate (known interacting pairs / all pairs, in the DDI "
        "knowledge base) the recommended set may have. Medications are dropped one at a time, "
        "each time the one of least probability among those in a known interacting pair, "
        "until the set's rate is at or below it; `ddi_limit` says what was dropped and why. "
        "The result is a subset of the answer without it. Default: no limit.",
    )

    @model_validator(mode="before")
    @classmethod
    def _take_a_bundle(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            return {"bundle": data}
        return data

    @model_validator(mode="after")
    def _visits_or_a_bundle(self) -> RecommendationCreate:
        if not self.visits and self.bundle is None:
            raise PydanticCustomError("too_short", "visits needs at least one visit")
        return self


class EvidencePublic(BaseModel):
    """A current-visit code and the probability drop when it is left out (occlusion)."""

    field: Literal["diagnoses", "procedures"]
    system: str
    code: str
    contribution: float


class MedicationPublic(BaseModel):
    """One recommended ATC3 class."""

    atc3: str = Field(examples=["C07A"])
    display: str | None = Field(None, examples=["Beta blocking agents"])
    probability: float = Field(examples=[0.91])
    evidence: list[EvidencePublic]


class UnknownCodePublic(BaseModel):
    """An input code the model could not use."""

    visit: int
    field: Literal["diagnoses", "procedures", "medications"]
    index: int
    system: str | None
    code: str
    reason: Literal[
        "malformed_code",
        "not_in_model_vocabulary",
        "system_not_in_model_vocabulary",
        "input_not_used_by_model",
        "no_atc_mapping",
        "no_code_map_loaded",
    ]


class ModelInfoPublic(ModelRef):
    """The model behind an answer: what a reviewer needs to judge it independently."""

    metrics: dict[str, Any]
    dataset_fingerprint: str
    intended_use: str
    synthetic: bool
    threshold: float


class DdiBlock(BaseModel):
    """Interactions within the recommended set: the pairs that matter are listed, the rest counted.

    A pair is listed when it is a known interaction or its ``predicted_risk`` is at least
    ``risk_threshold`` (setting ``MEDREC_DDI_RISK_THRESHOLD``); ``?pairs=all`` lists every pair.
    ``ddi_rate`` and ``max_risk`` are over every pair of the set, listed or not.
    """

    listed: Literal["relevant", "all"] = Field(description="Which pairs `pairs` holds.")
    risk_threshold: float = Field(description="Unknown pairs at this predicted risk are listed.")
    pairs: list[PairPublic]
    pair_count: int = Field(description="Pairs of the recommended set, listed or not.")
    known_count: int = Field(description="Pairs with a known interaction (always listed).")
    omitted_count: int = Field(description="Pairs not listed: not known, risk below threshold.")
    ddi_rate: float | None = Field(description="known_count / pair_count; null without pairs.")
    max_risk: float | None = Field(description="Highest predicted risk of any pair of the set.")
    prediction_note: str | None = Field(
        None, description="Why no pair has a prediction (no pair-risk model is active), else null."
    )


class DroppedMedicationPublic(BaseModel):
    """A medication ``max_ddi_rate`` removed, in the order of removal."""

    atc3: str = Field(examples=["M01A"])
    probability: float = Field(description="Its probability (the least among the candidates).")
    partners: list[str] = Field(
        description="The ATC3 classes still in the set it is known to interact with."
    )
    rate_before: float = Field(description="The set's known-DDI rate before this removal.")
    rate_after: float = Field(description="The rate after it.")


class DdiLimitPublic(BaseModel):
    """What the request's ``max_ddi_rate`` did to the recommended set."""

    max_ddi_rate: float = Field(description="The requested target.")
    rate_before: float = Field(description="Known-DDI rate of the set without the limit.")
    rate_after: float = Field(description="Known-DDI rate of the returned set (<= the target).")
    dropped: list[DroppedMedicationPublic] = Field(description="Empty when the set was within.")


_RESPONSE_EXAMPLE: dict[str, Any] = {
    "model": {
        "name": "gamenet",
        "version": 1,
        "sha256": "3f0c" + "0" * 60,
        "metrics": {"test": {"jaccard": {"mean": 0.42, "std": 0.01}}},
        "dataset_fingerprint": "sha256:synthetic-demo",
        "intended_use": "Demonstration on synthetic data. Not for clinical use.",
        "synthetic": True,
        "threshold": 0.3,
    },
    "pair_model": PAIR_MODEL_EXAMPLE,
    "medications": [
        {
            "atc3": "B01A",
            "probability": 0.91,
            "evidence": [
                {"field": "diagnoses", "system": "icd9cm", "code": "4280", "contribution": 0.12}
            ],
        },
        {"atc3": "N02B", "probability": 0.64, "evidence": []},
        {"atc3": "C07A", "probability": 0.41, "evidence": []},
        {"atc3": "A02B", "probability": 0.38, "evidence": []},
    ],
    "ddi": {
        "listed": "relevant",
        "risk_threshold": 0.5,
        "pairs": [PAIR_EXAMPLE],
        "pair_count": 6,
        "known_count": 1,
        "omitted_count": 5,
        "ddi_rate": 1 / 6,
        "max_risk": 0.91,
        "prediction_note": None,
    },
    # Without the limit M01A (0.33) was recommended too: 10 pairs, 3 known (B01A-N02B,
    # B01A-M01A, M01A-N02B). Of the three classes in known pairs, M01A has the least probability.
    "ddi_limit": {
        "max_ddi_rate": 0.2,
        "rate_before": 0.3,
        "rate_after": 1 / 6,
        "dropped": [
            {
                "atc3": "M01A",
                "probability": 0.33,
                "partners": ["B01A", "N02B"],
                "rate_before": 0.3,
                "rate_after": 1 / 6,
            }
        ],
    },
    "unknown_codes": [],
    "warnings": ["synthetic model trained on generated data: NOT FOR CLINICAL USE"],
}


class RecommendationPublic(BaseModel):
    """The recommendation for the last visit; each model is named once, at the top."""

    model_config = ConfigDict(json_schema_extra={"examples": [_RESPONSE_EXAMPLE]})

    model: ModelInfoPublic
    pair_model: ModelRef | None = Field(
        None, description="The pair-risk model behind ddi.pairs[].predicted_risk; null if none."
    )
    medications: list[MedicationPublic]
    ddi: DdiBlock
    ddi_limit: DdiLimitPublic | None = Field(
        None, description="What `max_ddi_rate` dropped, and why; null when the request set none."
    )
    unknown_codes: list[UnknownCodePublic]
    warnings: list[str]
