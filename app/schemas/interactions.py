"""Schemas of ``/v1/interactions`` and the DDI block of recommendations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.contract.codes import ATC_PATTERN
from app.schemas.common import ModelRef, Strict

DDI_CSV_FORMAT = "ddi-csv"  # app.contract.ddi_table's CSV; OpenAPI clients may plug a generator
AtcCode = Annotated[str, StringConstraints(pattern=ATC_PATTERN, min_length=4, max_length=7)]


class MedicationCodeIn(Strict):
    """A medication in a coding system: ATC (level ≥ 3), RxNorm (RXCUI) or NDC."""

    system: Literal["atc", "rxnorm", "ndc"]
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,16}$")]


class InteractionQuery(Strict):
    """Drugs to check pairwise, compared at ATC level 3: ATC codes or coded medications."""

    drugs: list[AtcCode | MedicationCodeIn] = Field(
        min_length=2,
        max_length=50,
        examples=[["N02BE01", "B01AC06"], ["N02BE01", {"system": "rxnorm", "code": "243670"}]],
    )


class UnmappedDrugPublic(BaseModel):
    """A queried medication that names no ATC3 class (it takes no part in any pair)."""

    index: int
    system: str
    code: str
    reason: Literal["malformed_code", "no_atc_mapping", "no_code_map_loaded"]


class KnownInteraction(BaseModel):
    """One knowledge-base entry for a pair."""

    source: str
    source_version: str
    types: list[str]
    severity: Literal["high", "moderate", "low", "unknown"]


class TypeScorePublic(BaseModel):
    """A predicted interaction type."""

    type: str
    probability: float


class PairPublic(BaseModel):
    """One unordered ATC3 pair (``atc3_a < atc3_b``): known entries and the predicted risk.

    The pair-risk model behind ``predicted_risk`` is named once, in the answer's ``pair_model``.
    """

    atc3_a: str = Field(examples=["B01A"])
    atc3_b: str = Field(examples=["N02B"])
    status: Literal["known_interaction", "no_known_interaction", "unknown_drug"]
    known: bool
    unknown_drugs: list[str] = Field(default_factory=list)
    severity: Literal["high", "moderate", "low", "unknown"] | None = None
    interactions: list[KnownInteraction] = Field(default_factory=list)
    predicted_risk: float | None = None
    top_types: list[TypeScorePublic] | None = None
    prediction_note: str | None = Field(
        None, description="Why this pair has no prediction although a pair model is active."
    )


PAIR_EXAMPLE: dict[str, Any] = {
    "atc3_a": "B01A",
    "atc3_b": "N02B",
    "status": "known_interaction",
    "known": True,
    "unknown_drugs": [],
    "severity": "high",
    "interactions": [
        {"source": "twosides", "source_version": "1", "types": ["bleeding"], "severity": "high"}
    ],
    "predicted_risk": 0.91,
    "top_types": [{"type": "bleeding", "probability": 0.88}],
    "prediction_note": None,
}
PAIR_MODEL_EXAMPLE: dict[str, Any] = {"name": "genn", "version": 1, "sha256": "9b1e" + "0" * 60}


class InteractionsPublic(BaseModel):
    """Every pair among the queried drugs."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "drugs": ["B01A", "N02B"],
                    "pair_model": PAIR_MODEL_EXAMPLE,
                    "prediction_note": None,
                    "pairs": [PAIR_EXAMPLE],
                    "count": 1,
                    "ddi_rate": 1.0,
                    "max_risk": 0.91,
                }
            ]
        }
    )

    drugs: list[str] = Field(description="The distinct ATC3 classes, sorted.")
    pair_model: ModelRef | None = Field(
        None, description="The pair-risk model behind every predicted_risk; null if none is active."
    )
    prediction_note: str | None = Field(
        None, description="Why no pair has a prediction (no pair-risk model is active), else null."
    )
    pairs: list[PairPublic]
    count: int
    ddi_rate: float | None = Field(description="Share of pairs with a known interaction.")
    max_risk: float | None = Field(description="Highest predicted risk; null without GENN.")
    unmapped: list[UnmappedDrugPublic] = Field(default_factory=list)
    displays: dict[str, str] = Field(
        default_factory=dict, description="ATC3 display names from the loaded code maps."
    )


class DdiTableCreate(Strict):
    """A DDI table to load (admin): CSV text with columns atc3_a,atc3_b[,types,severity,source]."""

    # ``format`` names the grammar JSON Schema cannot state (two different classes a row, a
    # known severity): a header ``atc3_a,atc3_b[,types,severity,source]``, then one pair a row.
    csv: str = Field(
        max_length=900_000,
        examples=["atc3_a,atc3_b,types,severity\nB01A,N02B,bleeding,high\n"],
        json_schema_extra={"format": DDI_CSV_FORMAT},
    )
    source: str = Field(min_length=1, max_length=128, examples=["twosides"])
    source_version: str = Field(min_length=1, max_length=128, examples=["gamenet-2019"])
    replace: bool = False


class DdiTablePublic(BaseModel):
    """What was loaded."""

    loaded: int
    source_version: str
    total: int
