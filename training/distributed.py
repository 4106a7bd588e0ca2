"""Data-parallel training under ``torchrun``: process group, patient shards, reductions.

``medrec train gamenet|gbert ... --distributed`` is meant to be started by torchrun, which sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address for each worker::

    OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 -m app.cli train gamenet --data var/ds
        --out runs/ddp --split random --distributed      (one command line)

:func:`session` joins the process group (gloo on CPU, nccl on CUDA, one GPU per local rank) and
yields a :class:`Dist`; the trainers wrap their model in ``DistributedDataParallel`` (G-BERT
averages its gradients itself, see :meth:`Dist.average_gradients`), give each
rank its :meth:`Dist.shard` of the training patients (``DistributedSampler``, reshuffled each
epoch from the run's seed), reduce the epoch's figures with :meth:`Dist.sum`, gather the
validation predictions with :meth:`Dist.gather` so that every rank computes the same metrics (and
so takes the same early-stopping decision), and write the run directory on rank 0 only. A single
process is ``Dist()``: world size 1, where every method is the identity.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset
from torch.utils.data.distributed import DistributedSampler

T = TypeVar("T")
M = TypeVar("M", bound=nn.Module)
_TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Dist:
    """This process's place in the run.

    Attributes:
        rank: 0 to ``world_size - 1``; rank 0 writes the run directory.
        world_size: the number of processes.
        device: this rank's torch device (``cuda:<local rank>`` under nccl).
    """

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Whether this rank writes files and logs the run."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    def seed(self, seed: int) -> int:
        """The seed of this rank's own draws (batch order, DDI annealing): ``seed + rank``.

        Rank 0 draws exactly what a single process draws; each rank's draws are reproducible for
        a given seed and world size (the offset is nanoGPT's ``seed_offset``).
        """
        return seed + self.rank

    def shard(self, items: Sequence[T], *, epoch: int, seed: int) -> list[T]:
        """This rank's share of ``items`` for ``epoch``, as ``DistributedSampler`` deals them.

        Every rank gets the same count (a few items repeat when the count does not divide), so
        every rank takes the same number of steps. A single process gets ``items`` unchanged.
        """
        if not self.is_distributed:
            return list(items)
        indices = TensorDataset(torch.arange(len(items)))  # the sampler reads only its length
        sampler: DistributedSampler[int] = DistributedSampler(
            indices, num_replicas=self.world_size, rank=self.rank, seed=seed
        )
        sampler.set_epoch(epoch)
        return [items[i] for i in sampler]

    def part(self, items: Sequence[T]) -> list[T]:
        """Every ``world_size``-th item from ``rank`` on: a split for evaluation, no repeats."""
        return list(items[self.rank :: self.world_size])

    def gather(self, mine: list[T]) -> list[T]:
        """Undo :meth:`part`: every rank's items, back in the original order."""
        if not self.is_distributed:
            return mine
        parts: list[list[T] | None] = [None] * self.world_size
        dist.all_gather_object(parts, mine)
        out: list[T] = []
        for i in range(max(len(p or []) for p in parts)):
            out.extend(p[i] for p in parts if p is not None and i < len(p))
        return out

    def sum(self, values: Sequence[float]) -> list[float]:
        """The element-wise sum of ``values`` over the ranks (float64)."""
        if not self.is_distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return [float(v) for v in tensor.cpu()]

    def barrier(self) -> None:
        """Wait for every rank (e.g. until rank 0 has written the run directory)."""
        if self.is_distributed:
            dist.barrier()

    def average_gradients(self, params: Sequence[nn.Parameter]) -> None:
        """Average the gradients of ``params`` over the ranks, in one ``all_reduce``.

        For a model that DDP's reducer cannot follow: G-BERT's loss calls its masked-token heads
        outside ``forward``, and skips one for a batch without masked tokens of its kind. A
        parameter no rank gave a gradient keeps none (Adam skips it, as in one process).
        """
        if not self.is_distributed:
            return
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
        has = torch.tensor([p.grad is not None for p in params], dtype=grads[0].dtype)
        flat = torch.cat([*(g.reshape(-1) for g in grads), has.to(grads[0].device)])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for p, g, used in zip(params, grads, flat[-len(params) :].tolist(), strict=True):
            p.grad = flat[offset : offset + g.numel()].view_as(p).clone() if used else None
            offset += g.numel()

    def wrap(self, model: M) -> M:
        """``model`` in ``DistributedDataParallel``: its gradients are averaged over the ranks.

        The replica is typed as the model because it stands in for it: calls go through DDP's
        forward, and any other attribute (``config``, submodules) is the model's, so a step
        written for the model runs on the replica unchanged. Buffers are synced once, not before
        every forward (the models' buffers are fixed graphs). A single process gets ``model``.
        """
        if not self.is_distributed:
            return model
        ids = [torch.device(self.device).index] if self.device.startswith("cuda") else None
        return cast(M, _Replica(model, device_ids=ids, forward_sync_buffers=False))


class _Replica(DistributedDataParallel):
    """DDP whose unknown attributes are the wrapped model's (see :meth:`Dist.wrap`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def uneven(model: nn.Module) -> AbstractContextManager[Any]:
    """Let ranks take different numbers of steps (DDP ``join``); a no-op for a plain model.

    GAMENet's reference mode steps once per visit, and the ranks' shards hold different numbers
    of visits.
    """
    return model.join() if isinstance(model, DistributedDataParallel) else nullcontext()


@contextmanager
def session(device: str, *, distributed: bool) -> Iterator[Dist]:
    """Join the torchrun process group when ``distributed``, else yield a single-process Dist.

    Args:
        device: the requested device; ``cuda`` becomes ``cuda:<local rank>`` under torchrun.
        distributed: whether to join the process group.

    Raises:
        ValueError: if ``distributed`` but the process was not started by torchrun.
    """
    if not distributed:
        yield Dist(device=device)
        return
    missing = [name for name in _TORCHRUN_ENV if name not in os.environ]
    if missing:
        raise ValueError(
            f"--distributed needs torchrun (unset: {', '.join(missing)}), e.g. "
            "torchrun --nproc_per_node=2 -m app.cli train gamenet ... --distributed"
        )
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    quiet = logging.getLogger("training")
    level = quiet.level
    if dist.get_rank() != 0:
        quiet.setLevel(logging.WARNING)  # rank 0 logs the run; the others only their warnings
    try:
        yield Dist(dist.get_rank(), dist.get_world_size(), device)
    finally:
        quiet.setLevel(level)
        dist.destroy_process_group()
