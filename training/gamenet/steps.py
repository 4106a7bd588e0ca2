"""GAMENet's training step and epoch, evaluation and checkpoints (the loop is ``training.fit``).

Two modes (``TrainConfig.mode``):

- ``reference``: the official code's loop. Patients in file order; for each visit ``t`` one Adam
  step on the prefix ``visits[:t+1]``, predicting visit ``t`` only (batch size 1).
- ``batched``: patients shuffled and grouped by length, ``batch_size`` patients a step, every real
  visit predicted in one forward pass (one memory-bank computation per step).

The annealed DDI loss keeps the official per-visit semantics in both modes: each visit computes
the DDI rate of its own thresholded prediction and, when above the target, draws whether its loss
is the DDI loss alone (probability ``exp((target - ddi) / T)``) or the prediction loss.
``TrainConfig.ddi_loss`` says what a step does with the draws: ``mixed`` averages the visits'
chosen losses (a reference step has one visit, so it is exactly the official step); ``separate``
makes two Adam steps from one forward pass, the first on the mean prediction loss of the visits
that drew it, the second on the mean DDI loss of those that drew that (the official code's DDI
step, which Adam normalises on its own, batched); ``off`` uses the prediction loss everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.gamenet import GAMENet, GAMENetConfig
from models.losses import annealed_loss, ddi_loss, prediction_loss
from training.batching import Batch, EncodedPatient, collate, prefix
from training.fit import Bar
from training.gamenet.config import TrainConfig

# Batched mode sorts patients by visit count within windows of this many batches, so a batch
# holds patients of similar length (less padding) while the order still changes every epoch.
_SORT_WINDOW_BATCHES = 50


@dataclass(frozen=True)
class EpochStats:
    """What one training epoch did."""

    loss: float
    ddi_loss_share: float  # fraction of visits whose loss was the DDI loss
    steps: int
    visits: int
    seconds: float  # wall time
    cpu_seconds: float  # this process's CPU time (steadier than wall time on a shared machine)


def epoch_batches(
    patients: Sequence[EncodedPatient], config: TrainConfig, rng: np.random.Generator
) -> list[list[EncodedPatient]]:
    """Return the epoch's batches: one visit prefix each (reference) or length-grouped patients."""
    if config.mode == "reference":
        return [[prefix(p, t)] for p in patients for t in range(1, p.num_visits + 1)]
    order = rng.permutation(len(patients))
    window = config.batch_size * _SORT_WINDOW_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: patients[i].num_visits)
        for b in range(0, len(chunk), config.batch_size):
            batches.append([patients[i] for i in chunk[b : b + config.batch_size]])
    return [batches[i] for i in rng.permutation(len(batches))]


def predicted_visits(
    logits: torch.Tensor, batch: Batch, mode: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the logits and targets ``[N, M]`` of the visits a step learns from."""
    if mode == "reference":
        return logits[:, -1], batch.med_history[:, -1]  # the prefix's last visit
    real = batch.visit_mask > 0  # [B, V]
    return logits[real], batch.med_history[real]  # [N, M]


def train_step(
    model: GAMENet,
    optimizer: torch.optim.Optimizer,
    group: Sequence[EncodedPatient],
    *,
    config: TrainConfig,
    temperature: float,
    ddi_adj: torch.Tensor,
    generator: torch.Generator,
) -> tuple[float, int, int]:
    """One optimiser step on ``group``; return its mean loss, DDI-loss visits and visits."""
    batch = collate(group, model.config.num_meds).to(ddi_adj.device)
    logits, targets = predicted_visits(model(*batch.inputs()), batch, config.mode)
    uniform = torch.rand(logits.size(0), generator=generator).to(ddi_adj.device)
    loss, chosen = annealed_loss(
        logits,
        targets,
        ddi_adj,
        uniform,
        target_ddi=config.target_ddi,
        temperature=temperature,
        threshold=config.threshold,
    )
    if config.ddi_loss == "off":
        chosen = torch.zeros_like(chosen)
        loss = prediction_loss(logits, targets)
    if config.ddi_loss == "separate" and bool(chosen.any()):
        loss = _separate_steps(model, optimizer, logits, targets, chosen, ddi_adj, config)
    else:
        loss = loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _step(model, optimizer, config)
    return loss.item(), int(chosen.sum()), logits.size(0)


def train_one_epoch(
    model: GAMENet,
    optimizer: torch.optim.Optimizer,
    patients: Sequence[EncodedPatient],
    *,
    config: TrainConfig,
    temperature: float,
    ddi_adj: torch.Tensor,
    rng: np.random.Generator,
    generator: torch.Generator,
    bar: Bar[list[EncodedPatient]],
) -> EpochStats:
    """Run one epoch of ``config.mode`` training over ``bar(batches)``; return its statistics."""
    model.train()
    batches = epoch_batches(patients, config, rng)
    total_loss, ddi_visits, visits = 0.0, 0, 0
    start, cpu_start = time.perf_counter(), time.process_time()
    progress = bar(batches)
    for step, group in enumerate(progress):
        loss, chosen, n = train_step(
            model,
            optimizer,
            group,
            config=config,
            temperature=temperature,
            ddi_adj=ddi_adj,
            generator=generator,
        )
        total_loss += loss * n
        ddi_visits += chosen
        visits += n
        if step % 50 == 0:
            progress.set_postfix(loss=f"{total_loss / visits:.4f}")
    return EpochStats(
        loss=total_loss / max(visits, 1),
        ddi_loss_share=ddi_visits / max(visits, 1),
        steps=len(batches),
        visits=visits,
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu_start,
    )


def _step(model: GAMENet, optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()


def _separate_steps(
    model: GAMENet,
    optimizer: torch.optim.Optimizer,
    logits: torch.Tensor,
    targets: torch.Tensor,
    chosen: torch.Tensor,
    ddi_adj: torch.Tensor,
    config: TrainConfig,
) -> torch.Tensor:
    """One Adam step on the prediction visits' mean loss, then one on the DDI visits' mean loss.

    Both gradients come from the same forward pass (taken before either step). Returns the
    per-visit losses' mean, for the log.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    ddi = ddi_loss(logits[chosen], ddi_adj)  # [N_ddi]
    pred = prediction_loss(logits[~chosen], targets[~chosen])  # [N_pred]
    ddi_grads = torch.autograd.grad(ddi.mean(), params, retain_graph=True, allow_unused=True)
    if pred.numel() > 0:
        optimizer.zero_grad(set_to_none=True)
        pred.mean().backward()
        _step(model, optimizer, config)
    for p, g in zip(params, ddi_grads, strict=True):
        p.grad = torch.zeros_like(p) if g is None else g
    _step(model, optimizer, config)
    return torch.cat([ddi, pred]).detach().mean()


def _chunks(items: Sequence[EncodedPatient], size: int) -> Iterator[Sequence[EncodedPatient]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.no_grad()
def evaluate(
    model: GAMENet, patients: Sequence[EncodedPatient], *, batch_size: int = 512
) -> list[np.ndarray]:
    """Return each patient's probabilities ``[V_p, M]`` for every visit (eval mode, no grad).

    Padding never changes a real visit's output, so this equals the official per-prefix
    evaluation while running whole batches.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    memory = model.memory_bank()  # [M, D], once for all batches
    out: list[np.ndarray] = []
    for group in _chunks(patients, batch_size):
        batch = collate(group, model.config.num_meds).to(device)
        prob = torch.sigmoid(model.read(memory, *batch.inputs())).cpu().numpy()  # [B, V, M]
        out.extend(prob[b, : p.num_visits] for b, p in enumerate(group))
    model.train(was_training)
    return out


def targets_of(patients: Sequence[EncodedPatient], num_meds: int) -> list[np.ndarray]:
    """Return each patient's true meds as bool ``[V_p, M]`` (unknown meds were dropped)."""
    out = []
    for p in patients:
        y = np.zeros((p.num_visits, num_meds), dtype=bool)
        for t, ids in enumerate(p.meds):
            y[t, list(ids)] = True
        out.append(y)
    return out


def checkpoint(
    model: GAMENet,
    optimizer: torch.optim.Optimizer,
    *,
    train_config: TrainConfig,
    epoch: int,
    best_val_jaccard: float,
) -> dict[str, Any]:
    """State dicts and plain-JSON configs, loadable with ``torch.load(weights_only=True)``."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "model_config": asdict(model.config),
        "train_config": train_config.to_json(),
        "epoch": epoch,
        "best_val_jaccard": best_val_jaccard,
    }


def load_model(path: Path, device: str = "cpu") -> tuple[GAMENet, dict[str, Any]]:
    """Rebuild the model from a checkpoint (graphs from its buffers); return it and the dict."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    state = ckpt["model"]
    model = GAMENet(
        GAMENetConfig(**ckpt["model_config"]),
        state["ehr_gcn.edge_index"],
        state["ddi_gcn.edge_index"],
    )
    model.load_state_dict(state)
    return model.to(device), ckpt
