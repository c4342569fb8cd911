"""Data-parallel training under ``torchrun`` (PyTorch DDP): NCCL on CUDA, gloo on CPU.

The global batch of an iteration (see :class:`semfuse.data.datasets.IterationBatchSampler`) is split between the
processes, ``items[rank::world_size]``, and DDP averages the gradients, so N processes on a global batch of B
follow the trajectory of one process on B (exactly, for losses that are means over equal shares and layers without
batch statistics; BatchNorm layers use SyncBatchNorm on CUDA and per-process statistics on CPU).
"""

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device, timeout: timedelta | None = None) -> DistributedContext:
    """Join the process group that ``torchrun`` describes in the environment; a single process otherwise.

    ``timeout``: how long a collective step waits for the other processes before it fails (default: PyTorch's).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
