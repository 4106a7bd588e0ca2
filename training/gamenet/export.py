"""GAMENet's artifact: the inference wrapper, its ONNX interface and its manifest fields.

The graph memory bank has no patient input, so the wrapper computes it once, here, and holds it
as a constant: the ONNX graph then has no GCN and no scatter ops. The wrapper predicts each
patient's last real visit and returns probabilities (``visit_mask`` says which visit that is).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from app.contract.manifest import InputRole, TensorSpec, recommender_specs
from models.gamenet import GAMENet
from training.gamenet.steps import load_model

# Example feeds: enough patients and visits that no dynamic axis has size 0 or 1 (torch.export
# specialises those).
_EXAMPLE_PATIENTS = 8
_EXAMPLE_VISITS = 4
_EXAMPLE_CODES = 5


class GAMENetInference(nn.Module):
    """Scores every med for each patient's last real visit, with a precomputed memory bank.

    Args:
        model: a trained :class:`GAMENet` (put in eval mode).

    Shapes:
        inputs: the six roles of ``app.contract.manifest`` (``[B, V, C]``, ``[B, V, M]``,
        ``[B, V]``); output: probabilities ``[B, M]``.
    """

    memory: Tensor

    def __init__(self, model: GAMENet) -> None:
        super().__init__()
        self.model = model.eval()
        with torch.no_grad():
            self.register_buffer("memory", model.memory_bank().detach().clone())  # [M, D]

    def forward(
        self,
        diag_ids: Tensor,
        diag_mask: Tensor,
        proc_ids: Tensor,
        proc_mask: Tensor,
        med_history: Tensor,
        visit_mask: Tensor,
    ) -> Tensor:
        """Return ``[B, M]`` probabilities for each patient's last real visit."""
        logits = self.model.read(
            self.memory, diag_ids, diag_mask, proc_ids, proc_mask, med_history, visit_mask
        )  # [B, V, M]
        last = (visit_mask.sum(1) - 1).clamp(min=0).long()  # [B]
        index = last.view(-1, 1, 1).expand(-1, 1, logits.size(-1))  # [B, 1, M]
        return torch.sigmoid(logits.gather(1, index).squeeze(1))  # [B, M]


ROLES: tuple[InputRole, ...] = (
    "diag_ids",
    "diag_mask",
    "proc_ids",
    "proc_mask",
    "med_history",
    "visit_mask",
)  # every recommender role, in the wrapper's argument order


def random_feeds(
    num_diag: int,
    num_proc: int,
    num_meds: int,
    *,
    patients: int,
    max_visits: int,
    max_codes: int,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Random padded feeds: patients of 1..``max_visits`` visits, the last visit's meds zero.

    The first patient always has ``max_visits`` visits and ``max_codes`` codes, the second a
    single visit, so both extremes are always covered.
    """
    gen = torch.Generator().manual_seed(seed)
    b, v, c = patients, max_visits, max_codes
    visits = torch.randint(1, v + 1, (b,), generator=gen)
    visits[0] = v
    if b > 1:
        visits[1] = 1
    visit_mask = (torch.arange(v)[None, :] < visits[:, None]).float()  # [B, V]

    def codes(n: int) -> tuple[Tensor, Tensor]:
        count = torch.randint(1, c + 1, (b, v), generator=gen)
        count[0, 0] = c
        mask = (torch.arange(c)[None, None, :] < count[..., None]).float()  # [B, V, C]
        mask = mask * visit_mask[..., None]
        return torch.randint(0, n, (b, v, c), generator=gen) * mask.long(), mask

    diag_ids, diag_mask = codes(num_diag)
    proc_ids, proc_mask = codes(num_proc)
    meds = (torch.rand(b, v, num_meds, generator=gen) < 0.2).float() * visit_mask[..., None]
    last = (visits - 1)[:, None]  # [B, 1]
    meds[torch.arange(v)[None, :] == last] = 0.0  # the visit being predicted has no meds yet
    return {
        "diag_ids": diag_ids,
        "diag_mask": diag_mask,
        "proc_ids": proc_ids,
        "proc_mask": proc_mask,
        "med_history": meds,
        "visit_mask": visit_mask,
    }


def _intended_use(synthetic: bool) -> str:
    if synthetic:
        return (
            "Demo model trained on synthetic data. It shows how MedRec works; it knows nothing "
            "about real patients. Not for clinical use."
        )
    return (
        "Research model recommending ATC3 medication classes from ICD diagnoses and procedures. "
        "Decision support for review by a clinician; not validated for clinical use."
    )


def build(
    run_dir: Path,
) -> tuple[nn.Module, dict[str, Tensor], list[TensorSpec], list[TensorSpec], dict[str, Any]]:
    """Return the wrapper, example feeds, input and output specs and manifest fields of a run.

    The fields hold everything but ``version`` and the fields ``write_artifact`` fills in.
    """
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    vocab = json.loads((run_dir / run.get("vocab_file", "vocab.json")).read_text())
    model, ckpt = load_model(run_dir / run.get("checkpoint", "best.ckpt"))
    cfg = model.config
    inputs, outputs = recommender_specs(ROLES, cfg.num_meds)
    feeds = random_feeds(
        cfg.num_diag_codes,
        cfg.num_proc_codes,
        cfg.num_meds,
        patients=_EXAMPLE_PATIENTS,
        max_visits=_EXAMPLE_VISITS,
        max_codes=_EXAMPLE_CODES,
    )
    fields = {
        "name": "gamenet",
        "vocab": vocab,
        # the threshold tuned on validation; runs written before it was recorded keep theirs
        "threshold": metrics.get("tuned_threshold", run["train_config"]["threshold"]),
        "metrics": {
            "test": metrics["test"],
            "val": metrics["val"],
            **({"test_tuned": metrics["test_tuned"]} if "test_tuned" in metrics else {}),
        },
        "baselines": metrics["baselines"],
        "dataset": {k: v for k, v in run["dataset"].items() if k != "synthetic"},
        "ddi_source": run["ddi_source"],
        "intended_use": _intended_use(bool(run["synthetic"])),
        "synthetic": bool(run["synthetic"]),
        "training": {
            "seed": run["seed"],
            "git_sha": run["git_sha"],
            "versions": run["versions"],
            "train_config": run["train_config"],
            "model_config": run["model_config"],
            "best_epoch": int(ckpt["epoch"]),
        },
    }
    return GAMENetInference(model), feeds, inputs, outputs, fields
