"""Export a fine-tuned G-BERT run to the recommender ONNX contract of ``app.contract.manifest``.

The wrapper takes roles ``diag_ids``, ``diag_mask``, ``med_ids``, ``med_mask`` and ``visit_mask``
(:class:`GBertServing`), plus ``proc_ids`` and ``proc_mask`` for a model whose encoder reads
procedures (:class:`GBertProcServing`; procedure ``j`` becomes diagnosis-side token
``3 + Kd + j``), and returns ``probabilities`` [B, M] for each patient's last real visit. What
has no patient input is constant in the graph: the ontology (GAT) embeddings are precomputed into
two tables (the diagnosis side's holds the procedures after the diagnoses), the DHA head maps
are buffers (Gather), and adapters with constant routing are merged into W. Visits and codes are
dynamic axes, so padding is trimmed per request.

Each distinct visit is encoded once per call (:meth:`GBertServing.encode_distinct`): the
service's evidence batch, one copy of the patient per occluded code, shares its past visits.

The medications of a past visit enter the rx encoder as their own tokens, ``[CLS]`` + ``med_ids``
(padding where ``med_mask`` is 0), as in training. (Before the ``med_ids`` role they entered as all
M medication tokens under a key mask: the same function, at ~M/|meds| times the rx cost.)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from app.contract.manifest import InputRole, TensorSpec, recommender_specs
from models.gbert.adapters import merge_adapters
from models.gbert.model import CLS, SPECIAL, GBertRecommender
from training.gbert.batches import med_tokens
from training.gbert.runs import load_model, run_codes

NAME = "gbert"
THRESHOLD = 0.3
PARITY_TOLERANCE = 1e-4


class GBertServing(nn.Module):
    """The serving wrapper of a diagnosis-only model: contract tensors in, probabilities out.

    Shapes:
        - input: ``diag_ids`` [B, V, Cd] int64, ``diag_mask`` [B, V, Cd], ``med_ids``
          [B, V, Cm] int64, ``med_mask`` [B, V, Cm], ``visit_mask`` [B, V]
        - output: [B, M]
    """

    dx_table: Tensor
    rx_table: Tensor
    reads_procedures: ClassVar[bool] = False

    def __init__(self, model: GBertRecommender) -> None:
        super().__init__()
        if model.encoder.config.use_procedures != self.reads_procedures:
            raise ValueError(
                f"{type(self).__name__}: the model's use_procedures is "
                f"{model.encoder.config.use_procedures}; use serving_module(model)"
            )
        self.model = copy.deepcopy(model).eval()
        merge_adapters(self.model.encoder)
        with torch.no_grad():
            dx_table, rx_table = self.model.encoder.tables()
        self.register_buffer("dx_table", dx_table.detach().clone())
        self.register_buffer("rx_table", rx_table.detach().clone())
        # The GATs are not part of the serving graph: drop them so the export stays small.
        del self.model.encoder.dx_onto, self.model.encoder.rx_onto
        self.model.encoder.px_onto = None

    def forward(
        self,
        diag_ids: Tensor,
        diag_mask: Tensor,
        med_ids: Tensor,
        med_mask: Tensor,
        visit_mask: Tensor,
    ) -> Tensor:
        """Return the probabilities of every medication for each patient's last real visit."""
        dx = (diag_ids + SPECIAL) * (diag_mask > 0).long()  # [B, V, Cd], PAD = 0
        return self.probabilities(dx, med_ids, med_mask, visit_mask)

    def probabilities(
        self, dx: Tensor, med_ids: Tensor, med_mask: Tensor, visit_mask: Tensor
    ) -> Tensor:
        """Return [B, M] last-visit probabilities from diagnosis-side tokens ``dx`` [B, V, C]."""
        b = dx.shape[0]
        cls = torch.ones_like(dx[..., :1]) * CLS  # [B, V, 1]
        rx = (med_ids + SPECIAL) * (med_mask > 0).long()  # [B, V, Cm]
        dx_cls = self.encode_distinct(torch.cat([cls, dx], -1), self.dx_table, 0)
        rx_cls = self.encode_distinct(torch.cat([cls, rx], -1), self.rx_table, 1)
        logits = self.model.visit_logits(dx_cls, rx_cls, visit_mask)  # [B, V, M]
        last = (visit_mask.sum(1) - 1).clamp(min=0).long()  # [B]
        index = last.view(b, 1, 1).expand(b, 1, logits.shape[2])  # [B, 1, M]
        return torch.sigmoid(logits.gather(1, index).squeeze(1))

    def encode_distinct(self, tokens: Tensor, table: Tensor, kind: int) -> Tensor:
        """The [CLS] vector of every visit, [B, V, D], encoding each distinct visit once.

        Each visit is encoded on its own, so equal token rows give equal vectors. The service's
        evidence batch repeats the patient once per occluded code, and those copies differ only
        in the last visit: encoding the distinct rows (``Unique`` in the graph) skips every
        repeated past visit, and the last visit's medication side, always ``[CLS]`` alone.
        """
        b, v, c = tokens.shape
        rows, inverse = torch.unique(tokens.reshape(b * v, c), dim=0, return_inverse=True)
        cls = self.model.encode_visits(rows.unsqueeze(0), table, kind)[0]  # [U, D]
        return cls[inverse].view(b, v, -1)


class GBertProcServing(GBertServing):
    """The serving wrapper of a model whose encoder reads procedures (the diagnosis side).

    Shapes:
        - input: ``diag_ids`` [B, V, Cd] int64, ``diag_mask`` [B, V, Cd], ``proc_ids``
          [B, V, Cp] int64, ``proc_mask`` [B, V, Cp], ``med_ids`` [B, V, Cm] int64, ``med_mask``
          [B, V, Cm], ``visit_mask`` [B, V]
        - output: [B, M]
    """

    reads_procedures: ClassVar[bool] = True

    def forward(  # type: ignore[override]
        self,
        diag_ids: Tensor,
        diag_mask: Tensor,
        proc_ids: Tensor,
        proc_mask: Tensor,
        med_ids: Tensor,
        med_mask: Tensor,
        visit_mask: Tensor,
    ) -> Tensor:
        """Return the probabilities of every medication for each patient's last real visit."""
        dx = (diag_ids + SPECIAL) * (diag_mask > 0).long()  # [B, V, Cd], PAD = 0
        offset = SPECIAL + self.model.encoder.config.num_diag_codes
        px = (proc_ids + offset) * (proc_mask > 0).long()  # [B, V, Cp], PAD = 0
        return self.probabilities(torch.cat([dx, px], -1), med_ids, med_mask, visit_mask)


def serving_module(model: GBertRecommender) -> GBertServing:
    """Return the serving wrapper of ``model``: with procedure roles when its encoder reads them."""
    cls = GBertProcServing if model.encoder.config.use_procedures else GBertServing
    return cls(model).eval()


def roles(model: GBertRecommender) -> tuple[InputRole, ...]:
    """Return the input roles of ``model``'s serving wrapper, in its argument order."""
    return PROC_ROLES if model.encoder.config.use_procedures else ROLES


class ExportBundle(NamedTuple):
    """What :func:`build` returns to ``medrec export``."""

    module: nn.Module
    feeds: dict[str, Tensor]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    fields: dict[str, Any]


ROLES: tuple[InputRole, ...] = ("diag_ids", "diag_mask", "med_ids", "med_mask", "visit_mask")
PROC_ROLES: tuple[InputRole, ...] = (
    "diag_ids",
    "diag_mask",
    "proc_ids",
    "proc_mask",
    "med_ids",
    "med_mask",
    "visit_mask",
)


def example_feeds(
    num_diag: int, num_meds: int, seed: int = 0, num_proc: int = 0
) -> dict[str, Tensor]:
    """Return a small random batch in the contract (3 patients of 3, 2 and 1 visits).

    With ``num_proc`` the batch has ``proc_ids`` / ``proc_mask`` too (drawn after the rest, so
    the other feeds do not depend on it).
    """
    g = torch.Generator().manual_seed(seed)
    b, v, c = 3, 3, 4
    visit_mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    diag_mask = (torch.rand(b, v, c, generator=g) < 0.7).float()
    diag_mask[..., 0] = 1.0
    diag_mask = diag_mask * visit_mask.unsqueeze(-1)
    diag_ids = torch.randint(0, num_diag, (b, v, c), generator=g) * diag_mask.long()
    med_history = (torch.rand(b, v, num_meds, generator=g) < 0.3).float()
    last = (visit_mask.sum(1) - 1).long()
    med_history = med_history * visit_mask.unsqueeze(-1)
    med_history[torch.arange(b), last] = 0.0
    feeds = {
        "diag_ids": diag_ids,
        "diag_mask": diag_mask,
        **med_tokens(med_history),
        "visit_mask": visit_mask,
    }
    if num_proc:
        proc_mask = (torch.rand(b, v, c, generator=g) < 0.6).float() * visit_mask.unsqueeze(-1)
        feeds["proc_ids"] = torch.randint(0, num_proc, (b, v, c), generator=g) * proc_mask.long()
        feeds["proc_mask"] = proc_mask
    return feeds


def _summary(figures: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {k: {"mean": float(v["mean"]), "std": float(v["std"])} for k, v in figures.items()}


def build(run_dir: Path) -> ExportBundle:
    """Return the serving wrapper, example feeds, specs and manifest fields of a fine-tuned run.

    Raises:
        ValueError: if the run is not a fine-tuning run.
    """
    import json

    model, run = load_model(Path(run_dir))
    if run["stage"] != "finetune" or not isinstance(model, GBertRecommender):
        raise ValueError(f"{run_dir}: only a finetune run can be exported (stage {run['stage']})")
    config = model.encoder.config
    inputs, outputs = recommender_specs(roles(model), config.num_meds)
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    data = run["data"]
    fields: dict[str, Any] = {
        "name": NAME,
        "version": 1,
        "inputs": [s.model_dump() for s in inputs],
        "outputs": [s.model_dump() for s in outputs],
        "vocab": run["vocab"],
        "threshold": metrics.get("tuned_threshold", THRESHOLD),
        "metrics": {
            "test": _summary(metrics.get("test_bootstrap", {})),
            **({"test_tuned": _summary(metrics["test_tuned"])} if "test_tuned" in metrics else {}),
        },
        "baselines": {k: _summary(v) for k, v in metrics.get("baselines", {}).items()},
        "dataset": {
            "fingerprint": data["fingerprint"],
            "source_format": data["source_format"],
            "split": run.get("split", {}),
            "patients": data["patients"],
            "visits": data["visits"],
        },
        "ddi_source": metrics.get("ddi_source"),
        "intended_use": "Research demo of medication recommendation; not for clinical use.",
        "synthetic": bool(data.get("synthetic", False)),
        "training": {
            "lineage": run["lineage"],
            "git_sha": run["git_sha"],
            "seed": run["seed"],
            "codes": run_codes(run),
            "model_config": config.to_json(),
        },
    }
    feeds = example_feeds(
        config.num_diag_codes, config.num_meds, seed=run["seed"], num_proc=config.num_proc_codes
    )
    return ExportBundle(serving_module(model), feeds, inputs, outputs, fields)
