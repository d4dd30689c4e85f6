"""Data-parallel training (``torchrun --nproc-per-node N neurosim train ...``).

Every rank holds the whole network (wrapped in ``DistributedDataParallel``) and takes its
contiguous share of every global batch. The task loss and the penalty are means per
inference over the local share; DDP averages the gradients over ranks, so with equal
shares the update equals that of one process on the global batch — the penalty is summed
over the global batch exactly as in single-process training. gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from neurosim.core.network import Run, Sequential

__all__ = ["DistContext", "RunModule", "context", "init_from_env"]


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, idx: Tensor) -> Tensor:
        """This rank's contiguous part of a global batch of indices."""
        return idx.tensor_split(self.world)[self.rank] if self.world > 1 else idx

    def sum(self, values: list[float]) -> list[float]:
        """Sum ``values`` over all ranks."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()


def context() -> DistContext:
    """The current process group's rank and size (single process when none)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size())
    return DistContext()


def init_from_env(device: str | None = None) -> DistContext:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), else do nothing."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        cuda = device is not None and torch.device(device).type == "cuda"
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return context()


class RunModule(nn.Module):
    """``x → (output, penalty)``: what DDP wraps, so the penalty is part of its forward."""

    def __init__(self, net: Sequential, penalty: Callable[[Run], Tensor] | None) -> None:
        super().__init__()
        self.net = net
        self.penalty = penalty

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        run = self.net.run(x)
        return run.output, (self.penalty(run) if self.penalty is not None else None)
