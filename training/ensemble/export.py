"""The ensemble's artifact: one ONNX graph holding every member, the Platt maps and the mix.

The wrapper calls each member's own inference module (``training.<model>.export.build`` of the
member run, or the logistic regression's dense form) on the roles it declares, calibrates, finds
each patient's pattern bucket from the feeds and mixes with that bucket's weights, so the
exported ``model.onnx`` has the recommender interface of ``app.contract.manifest`` and the service
serves it, evidence included, like any recommender. The members are composed in torch and
exported once (rather than ``onnx.compose`` of member graphs), so the export's own torch ↔
onnxruntime parity check covers the whole ensemble.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from app.contract.artifact import sha256_file
from app.contract.manifest import InputRole, TensorSpec, recommender_specs
from training.data.vocab import Vocabularies
from training.ensemble.calibration import EPS
from training.ensemble.logistic import LogisticMember
from training.ensemble.predictor import EnsembleSpec
from training.gamenet.export import ROLES, random_feeds
from training.gbert.batches import med_tokens

LR_ROLES: tuple[InputRole, ...] = ("diag_ids", "diag_mask", "proc_ids", "proc_mask", "visit_mask")
# With a token member (G-BERT): past medications also as their own tokens, which the service
# builds from the same medications as ``med_history``.
TOKEN_ROLES: tuple[InputRole, ...] = (*ROLES, "med_ids", "med_mask")
_EXAMPLE_PATIENTS = 8  # no dynamic axis of size 0 or 1 (torch.export specialises those)
_EXAMPLE_VISITS = 4
_EXAMPLE_CODES = 5


def _last_visit(visit_mask: Tensor) -> Tensor:
    return (visit_mask.sum(1) - 1).clamp(min=0).long()  # [B]


class LogisticInference(nn.Module):
    """The logistic-regression member on the last real visit: ``sigmoid(x @ weight + bias)``.

    Args:
        member: the fitted :class:`LogisticMember`.

    Shapes:
        inputs: ``diag_ids``, ``diag_mask``, ``proc_ids``, ``proc_mask`` ``[B, V, C]`` and
        ``visit_mask`` ``[B, V]``; output: probabilities ``[B, M]``.
    """

    diag_weight: Tensor
    proc_weight: Tensor
    bias: Tensor

    def __init__(self, member: LogisticMember) -> None:
        super().__init__()
        weight = torch.from_numpy(member.weight).float()
        n_diag = len(member.vocabs.diag)
        self.register_buffer("diag_weight", weight[:n_diag].clone())  # [D, M]
        self.register_buffer("proc_weight", weight[n_diag:].clone())  # [P, M]
        self.register_buffer("bias", torch.from_numpy(member.bias).float())  # [M]

    def forward(
        self,
        diag_ids: Tensor,
        diag_mask: Tensor,
        proc_ids: Tensor,
        proc_mask: Tensor,
        visit_mask: Tensor,
    ) -> Tensor:
        """Return ``[B, M]`` probabilities for each patient's last real visit."""
        last = _last_visit(visit_mask).view(-1, 1, 1)  # [B, 1, 1]
        logits = self.bias.unsqueeze(0)  # [1, M]
        for ids, mask, weight in (
            (diag_ids, diag_mask, self.diag_weight),
            (proc_ids, proc_mask, self.proc_weight),
        ):
            ids_t = ids.gather(1, last.expand(-1, 1, ids.size(2))).squeeze(1)  # [B, C]
            mask_t = mask.gather(1, last.expand(-1, 1, mask.size(2))).squeeze(1)  # [B, C]
            logits = logits + (weight[ids_t] * mask_t.unsqueeze(-1)).sum(1)  # [B, M]
        return torch.sigmoid(logits)


class EnsembleInference(nn.Module):
    """The pattern-aware mix of member modules for each patient's last real visit.

    Args:
        members: one module per member, each called with its roles' feeds, returning ``[B, M]``.
        roles: the input roles of each member, in its argument order.
        spec: the fitted mix (calibration, bucket edge, weights).

    Shapes:
        inputs: GAMENet's six roles (``app.contract.manifest``), then ``med_ids`` + ``med_mask``
        when a member reads them (:attr:`input_roles`); output: probabilities ``[B, M]``.
    """

    scale: Tensor
    shift: Tensor
    weights: Tensor

    def __init__(
        self, members: Sequence[nn.Module], roles: Sequence[Sequence[InputRole]], spec: EnsembleSpec
    ) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.roles = [tuple(r) for r in roles]
        self.input_roles = TOKEN_ROLES if any("med_ids" in r for r in self.roles) else ROLES
        self.code_median = float(spec.code_median)
        self.register_buffer("scale", torch.tensor([c.scale for c in spec.calibration]))  # [K]
        self.register_buffer("shift", torch.tensor([c.shift for c in spec.calibration]))  # [K]
        self.register_buffer("weights", torch.from_numpy(spec.weights).float())  # [buckets, K]

    def forward(
        self,
        diag_ids: Tensor,
        diag_mask: Tensor,
        proc_ids: Tensor,
        proc_mask: Tensor,
        med_history: Tensor,
        visit_mask: Tensor,
        med_ids: Tensor | None = None,
        med_mask: Tensor | None = None,
    ) -> Tensor:
        """Return ``[B, M]`` ensemble probabilities for each patient's last real visit.

        ``med_ids`` / ``med_mask`` are required when :attr:`input_roles` has them. (Fed as every
        column under the multi-hot mask instead, G-BERT's rx attention ran over all M tokens:
        a MIMIC-size GAMENet + G-BERT + LR answer with evidence cost 46 ms instead of 7.5.)
        """
        tensors = (diag_ids, diag_mask, proc_ids, proc_mask, med_history, visit_mask)
        feeds = dict(zip(ROLES, tensors, strict=True))
        if "med_ids" in self.input_roles:
            if med_ids is None or med_mask is None:
                raise ValueError("a token member needs the med_ids and med_mask feeds")
            feeds["med_ids"], feeds["med_mask"] = med_ids, med_mask
        probs = torch.stack(
            [
                m(*(feeds[r] for r in roles))
                for m, roles in zip(self.members, self.roles, strict=True)
            ]
        )  # [K, B, M]
        q = probs.clamp(EPS, 1 - EPS)
        z = torch.log(q) - torch.log1p(-q)  # [K, B, M]
        calibrated = torch.sigmoid(self.scale.view(-1, 1, 1) * z + self.shift.view(-1, 1, 1))
        w = self.weights[self.buckets(diag_mask, proc_mask, med_history, visit_mask)]  # [B, K]
        return (calibrated * w.t().unsqueeze(-1)).sum(0)  # [B, M]

    def buckets(
        self, diag_mask: Tensor, proc_mask: Tensor, med_history: Tensor, visit_mask: Tensor
    ) -> Tensor:
        """``training.ensemble.patterns.bucket_index`` of each patient's last visit, ``[B]``."""
        last = _last_visit(visit_mask)  # [B]
        at_last = torch.arange(visit_mask.size(1)).unsqueeze(0) == last.unsqueeze(1)  # [B, V]
        codes = (diag_mask.sum(2) * at_last).sum(1) + (proc_mask.sum(2) * at_last).sum(1)  # [B]
        before = (torch.arange(visit_mask.size(1)).unsqueeze(0) < last.unsqueeze(1)).float()
        has_past_meds = ((med_history.sum(2) * before).sum(1) > 0).long()  # [B]
        history = last.clamp(max=2)
        many = (codes > self.code_median).long()
        later = 2 + (history - 1) * 4 + many * 2 + has_past_meds
        return torch.where(history == 0, many, later)


def _member_module(
    run_dir: Path, source: dict[str, Any], vocabs: Vocabularies
) -> tuple[nn.Module, tuple[InputRole, ...]]:
    if source["kind"] == "lr":
        member = LogisticMember.load(run_dir / source["file"], vocabs, source["name"])
        return LogisticInference(member), LR_ROLES
    member_dir = Path(source["run_dir"])
    member_run = json.loads((member_dir / "run.json").read_text())
    checkpoint = member_dir / member_run.get("checkpoint", "best.ckpt")
    expected = source.get("checkpoint_sha256")
    if expected is not None and sha256_file(checkpoint) != expected:
        raise ValueError(f"{checkpoint}: changed since the ensemble was fitted (sha256 differs)")
    module, _, inputs, _, _ = importlib.import_module(f"training.{source['model']}.export").build(
        member_dir
    )
    return module, tuple(s.role for s in inputs)


def build(
    run_dir: Path,
) -> tuple[nn.Module, dict[str, Tensor], list[TensorSpec], list[TensorSpec], dict[str, Any]]:
    """Return the wrapper, example feeds, input and output specs and manifest fields of a run.

    Raises:
        ValueError: if a member's checkpoint changed since the ensemble was fitted.
    """
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    vocab = json.loads((run_dir / run["vocab_file"]).read_text())
    vocabs = Vocabularies.from_json(vocab)
    spec = EnsembleSpec.from_json(json.loads((run_dir / run["spec_file"]).read_text()))
    built = [_member_module(run_dir, source, vocabs) for source in run["members"]]
    wrapper = EnsembleInference([m for m, _ in built], [r for _, r in built], spec).eval()
    inputs, outputs = recommender_specs(wrapper.input_roles, len(vocabs.med))
    feeds = random_feeds(
        max(len(vocabs.diag), 1),
        max(len(vocabs.proc), 1),
        len(vocabs.med),
        patients=_EXAMPLE_PATIENTS,
        max_visits=_EXAMPLE_VISITS,
        max_codes=_EXAMPLE_CODES,
    )
    if "med_ids" in wrapper.input_roles:
        feeds.update(med_tokens(feeds["med_history"]))
    rows = metrics["rows"]
    fields = {
        "name": "ensemble",
        "vocab": vocab,
        "threshold": spec.threshold,
        "metrics": {"test": metrics["test"], "val": metrics["val"]},
        "baselines": {name: row["test"] for name, row in rows.items()},
        "dataset": {k: v for k, v in run["dataset"].items() if k != "synthetic"},
        "ddi_source": run["ddi_source"],
        "intended_use": _intended_use(spec.members, bool(run["synthetic"])),
        "synthetic": bool(run["synthetic"]),
        "training": {
            "seed": run["seed"],
            "git_sha": run["git_sha"],
            "versions": run["versions"],
            "train_config": run["train_config"],
            "members": run["members"],
            "ensemble": spec.to_json(),
        },
    }
    return wrapper, feeds, inputs, outputs, fields


def _intended_use(members: Sequence[str], synthetic: bool) -> str:
    what = f"Pattern-aware ensemble of {', '.join(members)}"
    if synthetic:
        return f"{what}, trained on synthetic data: a demo that knows nothing about real patients."
    return (
        f"{what}, recommending ATC3 medication classes from ICD diagnoses and procedures. "
        "Decision support for review by a clinician; not validated for clinical use."
    )
