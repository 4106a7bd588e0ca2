"""The one list of input formats and model names."""

from __future__ import annotations

from typing import Literal, get_args

InputFormat = Literal["mimic3", "mimic4", "omop", "synthea", "fhir", "meds", "benchmark-json"]
INPUT_FORMATS: tuple[InputFormat, ...] = get_args(InputFormat)

ModelName = Literal["gamenet", "gbert", "genn", "ensemble"]
MODEL_NAMES: tuple[ModelName, ...] = get_args(ModelName)
RecommenderName = Literal["gamenet", "gbert", "ensemble"]
RECOMMENDER_NAMES: tuple[RecommenderName, ...] = get_args(RecommenderName)
