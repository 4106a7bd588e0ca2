"""The artifact manifest: the contract between training (writes it) and serving (reads it).

Torch-free on purpose: ``training/export`` validates what it writes against this schema, and the
service validates what it loads. See docs/architecture.md, "The artifact".

Recommendation models (``gamenet``, ``gbert``, ``ensemble``) share one ONNX interface, so the
service builds feeds without knowing the model. Each manifest input has a ``role``; a model declares
the roles it uses:

==============  =======  ==========  =====================================================
role            dtype    shape       meaning
==============  =======  ==========  =====================================================
diag_ids        int64    [B, V, Cd]  diagnosis vocab ids per visit, padded with 0
diag_mask       float32  [B, V, Cd]  1.0 where ``diag_ids`` is a real code
proc_ids        int64    [B, V, Cp]  procedure vocab ids per visit, padded with 0
proc_mask       float32  [B, V, Cp]  1.0 where ``proc_ids`` is a real code
med_history     float32  [B, V, M]   multi-hot meds given at each visit (the last row is 0)
med_ids         int64    [B, V, Cm]  med vocab ids given at each visit, padded with 0 (the last
                                     row is empty)
med_mask        float32  [B, V, Cm]  1.0 where ``med_ids`` is a real medication
visit_mask      float32  [B, V]      1.0 for real visits; visits are left-aligned
==============  =======  ==========  =====================================================

The one output (role ``probabilities``, float32 ``[B, M]``) scores every med for each patient's
last real visit. The pair-risk model (``genn``) takes role ``pairs`` (int64 ``[P, 2]``, drug vocab
ids) and returns role ``type_probabilities`` (float32 ``[P, T]``).

``threshold`` is the decision threshold the run tuned on its validation split (GAMENet's
``metrics`` hold the test figures at the fixed 0.5 as ``test`` and at the tuned one as
``test_tuned``).
Beside the manifest, the artifact directory may hold the files of ``app.contract.artifact``:
``report.md`` and ``curves.png`` from the run and, for a recommender, ``report.html``
(``REPORT_FILE``), the version's evaluation report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_SCHEMA = 1
ModelName = Literal["gamenet", "gbert", "genn", "ensemble"]
InputRole = Literal[
    "diag_ids",
    "diag_mask",
    "proc_ids",
    "proc_mask",
    "med_history",
    "med_ids",
    "med_mask",
    "visit_mask",
    "pairs",
]
OutputRole = Literal["probabilities", "type_probabilities"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One ONNX input or output: its graph name, role, dtype and shape (str = dynamic axis)."""

    name: str
    role: InputRole | OutputRole
    dtype: Literal["int64", "float32"]
    shape: list[int | str]


# Dtype and shape of each recommender input role; strings are dynamic axes shared by name, and
# "M" stands for the number of medications.
RECOMMENDER_INPUTS: dict[str, tuple[Literal["int64", "float32"], tuple[str, ...]]] = {
    "diag_ids": ("int64", ("B", "V", "Cd")),
    "diag_mask": ("float32", ("B", "V", "Cd")),
    "proc_ids": ("int64", ("B", "V", "Cp")),
    "proc_mask": ("float32", ("B", "V", "Cp")),
    "med_history": ("float32", ("B", "V", "M")),
    "med_ids": ("int64", ("B", "V", "Cm")),
    "med_mask": ("float32", ("B", "V", "Cm")),
    "visit_mask": ("float32", ("B", "V")),
}


def recommender_specs(
    roles: Sequence[InputRole], num_meds: int
) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The ONNX inputs (named by their ``roles``, in that order) and output of a recommender.

    Raises:
        ValueError: for a role that is not a recommender input.
    """
    unknown = [r for r in roles if r not in RECOMMENDER_INPUTS]
    if unknown:
        raise ValueError(f"recommender_specs: not recommender input roles: {unknown}")
    inputs = []
    for role in roles:
        dtype, shape = RECOMMENDER_INPUTS[role]
        dims: list[int | str] = [num_meds if d == "M" else d for d in shape]
        inputs.append(TensorSpec(name=role, role=role, dtype=dtype, shape=dims))
    output = TensorSpec(
        name="probabilities", role="probabilities", dtype="float32", shape=["B", num_meds]
    )
    return inputs, [output]


class MetricSummary(_Strict):
    """A metric as mean ± std over bootstrap rounds."""

    mean: float
    std: float


class DatasetInfo(_Strict):
    """Where the training data came from (no patient data)."""

    fingerprint: str
    source_format: str
    filters: list[str] = Field(default_factory=list)
    split: dict[str, Any] = Field(default_factory=dict)
    patients: int
    visits: int


class DdiSource(_Strict):
    """The interaction table used in training."""

    name: str
    fingerprint: str
    pairs: int


class Manifest(_Strict):
    """``manifest.json`` of an exported model artifact."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    schema_: int = Field(MANIFEST_SCHEMA, alias="schema")
    name: ModelName
    version: int = Field(ge=1)
    created_at: str
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    opset: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    vocab: dict[str, list[Any]]
    threshold: float = Field(ge=0.0, le=1.0)
    metrics: dict[str, dict[str, MetricSummary]] = Field(default_factory=dict)
    baselines: dict[str, dict[str, MetricSummary]] = Field(default_factory=dict)
    dataset: DatasetInfo
    ddi_source: DdiSource | None = None
    intended_use: str
    synthetic: bool = False
    training: dict[str, Any] = Field(default_factory=dict)

    def input_for(self, role: InputRole) -> TensorSpec | None:
        """Return the input with ``role``, or ``None`` when the model does not use it."""
        return next((t for t in self.inputs if t.role == role), None)
