"""GENN training, full-batch as in the official code: the MLP and GNN baselines, then GENN.

1. :func:`train_mlp`: :class:`~models.genn.PairMLP` on node features only, BCE.
2. :func:`pretrain_gnn`: the inference network F with decoder φ, BCE. This is the GNN baseline.
3. :func:`train_genn`: ψ starts as a copy of φ, then each epoch runs an inference step and an
   energy step (official ``train_max`` / ``train_min``)::

       energy step:    ReLU(L1(F_φ, y) − w·E(x, F_φ) + E(x, y))                  (E's parameters)
       inference step: BCE(F_φ, y) − ReLU(L1(F_φ, y) − w·E(x, F_φ) + E(x, y))
                       + BCE(F_ψ, y) + E(x, F_ψ on train ∪ val ∪ test pairs)     (F's parameters)

   The last term is semi-supervised: val/test pairs enter the energy graph with ψ's predicted
   labels, never their true ones.

Every phase selects the epoch with the best validation macro ROC-AUC and stops after
``patience`` epochs without improvement. Encoders see the interacting train pairs in both
directions (the official code passes each pair once, so a node with only higher-indexed
partners never received a message).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.genn import GENNConfig, GENNEnergy, GENNInference, PairMLP
from training.fit import Bar, Callback, CheckpointWriter, EpochEnd, FitResult, Monitor, fit
from training.genn.config import OptimConfig
from training.genn.data import GraphTensors
from training.genn.metrics import type_metrics


def history_json(result: FitResult) -> dict[str, Any]:
    """The plain-JSON history of one phase for ``metrics.json``.

    ``seconds_to_best``: wall time from the phase's start to the end of the best epoch's
    training step (validation passes before it included).
    """
    best = result.history[result.best_epoch - 1] if result.best_epoch else {}
    return {
        "losses": [row["train_loss"] for row in result.history],
        "val": result.val(),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "seconds_per_epoch": result.seconds / max(1, len(result.history)),
        "seconds_to_best": best.get("elapsed_s", 0.0),
    }


def _fit_phase(
    name: str,
    modules: list[nn.Module],
    step: Callable[[], float],
    validate: Callable[[], dict[str, float]],
    epochs: int,
    config: OptimConfig,
    callbacks: Iterable[Callback],
    show_progress: bool,
) -> FitResult:
    """One full-batch ``step`` per epoch; the best validation ROC-AUC's state is restored.

    Each history row has ``elapsed_s``: seconds since the phase started, after its step.
    """
    start = time.perf_counter()

    def train_epoch(bar: Bar[Any]) -> dict[str, float]:
        losses = [step() for _ in bar([None])]  # full batch: one step an epoch
        return {"train_loss": losses[0], "elapsed_s": time.perf_counter() - start}

    return fit(
        train_epoch,
        validate,
        epochs=epochs,
        monitor=Monitor("roc_auc", "max", patience=config.patience),
        modules=modules,
        callbacks=callbacks,
        show_progress=show_progress,
        restore_best=True,
        name=name,
    )


@torch.no_grad()
def predict(model: nn.Module, g: GraphTensors, part: str, *, decoder: str = "psi") -> np.ndarray:
    """Return probabilities ``[P, T]`` of one split part, in eval mode."""
    model.eval()
    if isinstance(model, PairMLP):
        logits = model(g.x, g.pairs[part])
    else:
        assert isinstance(model, GENNInference)
        h = model.encode(g.x, g.enc_index, g.enc_attr)
        logits = getattr(model, decoder)(h, g.pairs[part])
    return torch.sigmoid(logits).cpu().numpy()


def evaluate(
    model: nn.Module, g: GraphTensors, part: str, *, decoder: str = "psi"
) -> dict[str, float]:
    """Return :func:`type_metrics` of ``model`` on one split part."""
    return type_metrics(g.labels[part].cpu().numpy(), predict(model, g, part, decoder=decoder))


def train_mlp(
    g: GraphTensors,
    model_config: GENNConfig,
    config: OptimConfig,
    *,
    callbacks: Iterable[Callback] = (),
    show_progress: bool = True,
) -> tuple[PairMLP, FitResult]:
    """Train the MLP baseline on pair features only."""
    torch.manual_seed(config.seed)
    model = PairMLP(model_config).to(config.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(model(g.x, g.pairs["train"]), g.labels["train"])
        loss.backward()
        opt.step()
        return float(loss.detach())

    result = _fit_phase(
        "mlp",
        [model],
        step,
        lambda: evaluate(model, g, "val"),
        config.mlp_epochs,
        config,
        callbacks,
        show_progress,
    )
    return model, result


def pretrain_gnn(
    g: GraphTensors,
    model_config: GENNConfig,
    config: OptimConfig,
    *,
    callbacks: Iterable[Callback] = (),
    show_progress: bool = True,
) -> tuple[GENNInference, FitResult]:
    """Pre-train F (encoder + φ) with BCE: the GNN baseline. ψ is then set to a copy of φ."""
    torch.manual_seed(config.seed)
    model = GENNInference(model_config).to(config.device)
    opt = torch.optim.Adam([*model.encoder.parameters(), *model.phi.parameters()], lr=config.lr)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        h = model.encode(g.x, g.enc_index, g.enc_attr)
        loss = F.binary_cross_entropy_with_logits(model.phi(h, g.pairs["train"]), g.labels["train"])
        loss.backward()
        opt.step()
        return float(loss.detach())

    result = _fit_phase(
        "gnn",
        [model],
        step,
        lambda: evaluate(model, g, "val", decoder="phi"),
        config.pretrain_epochs,
        config,
        callbacks,
        show_progress,
    )
    model.psi.load_state_dict(model.phi.state_dict())
    return model, result


def _hinge(prob: Tensor, energy: GENNEnergy, g: GraphTensors, w: float) -> Tensor:
    """ReLU(L1(F_φ, y) − w·E(x, F_φ) + E(x, y)) on the train pairs (the cost-augmented hinge)."""
    y = g.labels["train"]
    train_index = g.pairs["train"].T.contiguous()  # [2, P_train]
    margin = F.l1_loss(prob, y) - w * energy(g.x, train_index, prob) + energy(g.x, train_index, y)
    return torch.relu(margin)


def train_genn(
    model: GENNInference,
    g: GraphTensors,
    model_config: GENNConfig,
    config: OptimConfig,
    *,
    run_dir: Path | None = None,
    extra: dict[str, Any] | None = None,
    callbacks: Iterable[Callback] = (),
    show_progress: bool = True,
) -> tuple[GENNEnergy, FitResult]:
    """Alternate inference and energy steps from a pre-trained ``model`` (updated in place).

    With ``run_dir``, ``last.ckpt`` / ``best.ckpt`` hold both networks' state dicts, the best
    validation ROC-AUC so far and ``extra`` (configs, the export's encoder graph).
    """
    torch.manual_seed(config.seed)
    energy = GENNEnergy(model_config).to(config.device)
    lr = config.lr if config.genn_lr is None else config.genn_lr
    opt_f = torch.optim.Adam(model.parameters(), lr=lr)
    opt_e = torch.optim.Adam(energy.parameters(), lr=lr, weight_decay=config.energy_weight_decay)
    all_index = g.all_pairs.T.contiguous()  # [2, P_all]
    w = config.energy_weight

    def step() -> float:
        y = g.labels["train"]
        opt_f.zero_grad(set_to_none=True)
        # E's parameters are fixed in F's step: autograd then skips their gradients (discarded
        # before E's step anyway) and E(x, y), which depends on nothing F learns.
        energy.requires_grad_(False)
        h = model.encode(g.x, g.enc_index, g.enc_attr)
        logits_phi = model.phi(h, g.pairs["train"])
        hinge = _hinge(torch.sigmoid(logits_phi), energy, g, w)
        bce_phi = F.binary_cross_entropy_with_logits(logits_phi, y)
        bce_psi = F.binary_cross_entropy_with_logits(model.psi(h, g.pairs["train"]), y)
        e_psi = energy(g.x, all_index, torch.sigmoid(model.psi(h, g.all_pairs)))
        loss_f = bce_phi - hinge + bce_psi + e_psi
        loss_f.backward()
        opt_f.step()
        energy.requires_grad_(True)

        opt_e.zero_grad(set_to_none=True)
        with torch.no_grad():
            h = model.encode(g.x, g.enc_index, g.enc_attr)
            prob_phi = torch.sigmoid(model.phi(h, g.pairs["train"]))
        loss_e = _hinge(prob_phi, energy, g, w)
        loss_e.backward()
        opt_e.step()
        return float(loss_f.detach())

    def payload(end: EpochEnd) -> dict[str, Any]:
        return {
            "model": _cpu(model.state_dict()),
            "energy": _cpu(energy.state_dict()),
            **(extra or {}),
            "best_val_roc_auc": end.best,
        }

    writers = [] if run_dir is None else [CheckpointWriter(run_dir, payload)]
    result = _fit_phase(
        "genn",
        [model, energy],
        step,
        lambda: evaluate(model, g, "val"),
        config.genn_epochs,
        config,
        [*callbacks, *writers],
        show_progress,
    )
    return energy, result


def _cpu(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.cpu() for k, v in state.items()}
