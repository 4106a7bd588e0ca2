"""Schemas of training jobs: the submitted parameters and the job as the API shows it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.contract.jobs import JobModel as TrainableModel
from app.contract.names import InputFormat
from app.schemas.common import JSON_INT, Strict

JobFormat = InputFormat
JobModel = TrainableModel
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Scalar = str | int | float | bool | None
ReaderValue = Scalar | list[str] | dict[str, Scalar]


class TrainingParams(Strict):
    """Training parameters (defaults: the trainer's) and reader options.

    ``reader`` keys are the format reader's options (e.g. ``atc_mapping``, ``min_visits``), as
    ``medrec ingest`` takes them. A path option names an uploaded mapping file, or a file inside
    the uploaded export. ``epochs`` are GAMENet's training epochs, or G-BERT's fine-tuning
    epochs; a parameter of one model only (``mode``, ``pretrain_epochs``, ``dha_epochs``) is
    ignored by the others: the schema cannot tie a parameter to the job's model.
    """

    epochs: Annotated[int, Field(ge=1, le=500), *JSON_INT] = 10
    mode: Literal["batched", "reference"] | None = Field(
        None, description="GAMENet only (other models ignore it)."
    )
    pretrain_epochs: Annotated[int, Field(ge=1, le=500), *JSON_INT] | None = Field(
        None, description="G-BERT only: pre-training epochs (default: the trainer's)."
    )
    dha_epochs: Annotated[int, Field(ge=1, le=500), *JSON_INT] | None = Field(
        None,
        description="G-BERT only: continued pre-training epochs after the DHA conversion.",
    )
    split: Literal["literature", "random"] | None = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1), *JSON_INT] | None = None
    lr: float | None = Field(None, gt=0.0, le=1.0)
    batch_size: Annotated[int, Field(ge=1, le=4096), *JSON_INT] | None = None
    threshold: float | None = Field(None, gt=0.0, lt=1.0)
    reader: dict[str, ReaderValue] = Field(default_factory=dict, max_length=32)


class ModelVersionRef(BaseModel):
    """The model version a job produced."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    version: int
    status: Literal["registered", "active", "inactive"]
    sha256: str


class TrainingJobPublic(BaseModel):
    """A training job: state, progress, validation metrics, log tail, result and comparison."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    state: JobState
    format: str
    model: str
    params: dict[str, Any]
    progress: float = Field(description="Percent done (0-100).")
    epoch: int | None
    epochs: int | None
    val_metrics: dict[str, Any] | None = Field(description="Validation metrics of the last epoch.")
    log_tail: str
    attempt: int
    error: str | None
    result_model_version: ModelVersionRef | None
    comparison: dict[str, Any] | None = Field(
        description="Candidate vs active version on the candidate's test split, and the gate."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TrainingJobsPublic(BaseModel):
    """A list of jobs, newest first."""

    data: list[TrainingJobPublic]
    count: int


class TrainingJobImport(Strict):
    """A job on an export already on the server (``source_path`` under the import directory)."""

    source_path: str = Field(
        min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f]+$", examples=["mimic3-demo"]
    )
    format: JobFormat
    model: JobModel = "gamenet"
    params: TrainingParams = Field(default_factory=TrainingParams)
