"""Many processes, GPUs or machines through ``torchrun``: each process (rank) works on its share of the items.

``torchrun --nproc_per_node N [--nnodes M ...] -m semfuse fuse ...`` (and ``semfuse evaluate``) starts N x M
processes with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in their environment. :func:`torchrun_group` joins them
into one process group (gloo on the CPU, NCCL on CUDA, through ``semfuse.engine.distributed.init_distributed``),
and gives each CUDA rank its local GPU. Without ``torchrun`` it is a single process and nothing is initialised.

A run then goes in three steps, the same on every rank:

1. decide once (:func:`decide_on_main`): rank 0 lists the inputs, checks which outputs exist (``--skip-existing``,
   ``--overwrite`` refusals) and sends its decision to every rank, before any rank writes a file;
2. work on a share (:func:`shard`): rank r takes items r, r + N, r + 2N, ... of the same ordered list, so each item
   is done exactly once;
3. gather (:func:`all_gather`): every rank receives every rank's result, merges it the same way
   (:func:`merge_fuse_summaries`) and returns the same exit status; only rank 0 prints the summary, and no rank
   leaves before rank 0 is done.

A failing or stopped rank never leaves the others waiting forever: when one rank exits non-zero (an error, Ctrl-C,
SIGTERM), ``torchrun`` stops the others; a rank that hangs makes the others' next collective step fail after
:data:`COLLECTIVE_TIMEOUT`.
"""

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn, TypeVar

from semfuse.engine.distributed import DistributedContext
from semfuse.errors import InputError, SemfuseError

if TYPE_CHECKING:
    from semfuse.inference import FuseSummary

__all__ = ["COLLECTIVE_TIMEOUT", "all_gather", "decide_on_main", "fail_once", "local_device", "merge_fuse_summaries",
           "shard", "torchrun_group", "torchrun_world_size"]

T = TypeVar("T")

COLLECTIVE_TIMEOUT = timedelta(minutes=30)
"""How long a rank waits for the others at a collective step (the start, and the gather at the end) before failing."""


def torchrun_world_size() -> int:
    """The number of processes ``torchrun`` started (``WORLD_SIZE``); 1 without ``torchrun``."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """The share of rank ``rank`` of ``world_size``: items ``rank``, ``rank + world_size``, ... in their order.

    The shares of all ranks hold every item exactly once (what training's batch split does, too).

    Example:
        >>> [shard(list("abcde"), rank, 2) for rank in range(2)]
        [['a', 'c', 'e'], ['b', 'd']]
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise InputError(f"rank {rank} of {world_size} processes: give 0 <= rank < world_size")
    return list(items[rank::world_size])


def local_device(name: str, local_rank: int) -> str:
    """The device a rank under ``torchrun`` computes on: ``cuda``/``auto`` on a CUDA machine become the rank's own
    GPU ``cuda:LOCAL_RANK``; any other name (``cpu``, ``cuda:N``) stays as given.

    Example:
        >>> local_device("cpu", 1)
        'cpu'
    """
    if name not in ("auto", "cuda"):
        return name
    import torch

    return f"cuda:{local_rank}" if torch.cuda.is_available() else name


@contextmanager
def torchrun_group(device: str = "auto", timeout: timedelta = COLLECTIVE_TIMEOUT) -> Iterator[DistributedContext]:
    """Join the process group ``torchrun`` describes (a single-process context without ``torchrun``), and leave it
    after the block.

    Args:
        device: the command's ``--device``: the group uses NCCL when the ranks compute on CUDA, else gloo.
        timeout: how long a collective step waits for the other ranks before it fails.
    """
    if torchrun_world_size() <= 1:
        yield DistributedContext()
        return
    import torch

    from semfuse.device import resolve_device
    from semfuse.engine.distributed import init_distributed, shutdown

    compute = resolve_device(local_device(device, int(os.environ.get("LOCAL_RANK", "0"))))
    if compute.type == "cuda":
        torch.cuda.set_device(compute)  # NCCL's object collectives use the current device
    context = init_distributed(compute, timeout)
    try:
        yield context
        # No rank leaves before rank 0 has written and logged everything: torchrun stops every process as soon as
        # one exits with a non-zero status, which a run with a failed pair has on every rank.
        with _waiting_for_others(context):
            torch.distributed.barrier()
    finally:
        shutdown(context)


def decide_on_main(context: DistributedContext, decide: Callable[[], T]) -> T:
    """``decide()`` on rank 0 only, its result sent to every rank, so all ranks act on one view of the disk.

    A ``SemfuseError`` from ``decide`` is raised on rank 0, which prints it, and ends the other ranks quietly
    (:func:`fail_once`), so the error appears once.
    """
    if not context.enabled:
        return decide()
    import torch.distributed as dist

    message: list = [None]
    if context.is_main:
        try:
            message = [("ok", decide())]
        except SemfuseError as error:
            message = [("error", error)]
    with _waiting_for_others(context):
        dist.broadcast_object_list(message, src=0)
    outcome, value = message[0]
    if outcome == "error":
        fail_once(context, value)
    return value


def fail_once(context: DistributedContext, error: SemfuseError) -> NoReturn:
    """End an error that every rank meets alike: raise it on rank 0, which prints it and exits with status 2; the
    other ranks exit quietly with status 0, so that ``torchrun`` does not stop rank 0 before it has printed (the
    run's exit status is then rank 0's failure)."""
    if context.is_main:
        raise error
    raise SystemExit(0)


def all_gather(context: DistributedContext, value: T) -> list[T]:
    """Every rank's ``value``, in rank order, on every rank (``[value]`` in a single process)."""
    if not context.enabled:
        return [value]
    import torch.distributed as dist

    gathered: list = [None] * context.world_size
    with _waiting_for_others(context):
        dist.all_gather_object(gathered, value)
    return gathered


@contextmanager
def _waiting_for_others(context: DistributedContext) -> Iterator[None]:
    """A collective step whose failure (another rank gone, or a :data:`COLLECTIVE_TIMEOUT` passed) is one line."""
    try:
        yield
    except RuntimeError as error:  # torch.distributed's errors (DistBackendError, gloo's timeouts) are RuntimeErrors
        cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SemfuseError(f"process {context.rank} of {context.world_size}: the other torchrun processes did not "
                           f"answer ({cause}); one of them stopped or hangs; run again with --skip-existing to "
                           "finish") from None


def merge_fuse_summaries(parts: Sequence["FuseSummary"]) -> "FuseSummary":
    """One ``semfuse.inference.FuseSummary`` of the ranks' summaries: written and kept outputs in path order,
    failure messages in rank order.

    Example:
        >>> from pathlib import Path
        >>> from semfuse.inference import FuseSummary
        >>> merged = merge_fuse_summaries([FuseSummary([Path("a.png"), Path("c.png")]),
        ...                                FuseSummary([Path("b.png")], ["d: unreadable"])])
        >>> [path.name for path in merged.written], merged.failed
        (['a.png', 'b.png', 'c.png'], ['d: unreadable'])
    """
    from semfuse.inference import FuseSummary

    return FuseSummary(
        written=sorted(path for part in parts for path in part.written),
        failed=[message for part in parts for message in part.failed],
        skipped=sorted(path for part in parts for path in part.skipped),
    )
