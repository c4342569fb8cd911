"""Tuning of the running process: physical cores, CPU threads, and glibc's reuse of freed memory.

The CLI applies these before a command runs; the benchmarks apply them as the commands do. Nothing here imports
torch at module level, so that the thread variables are set before torch's OpenMP runtime reads them.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # read when a library loads


def physical_cores() -> int:
    """Physical CPU cores this process may use: distinct (package, core) pairs of /proc/cpuinfo, capped by the
    CPU affinity mask; the logical count where /proc/cpuinfo says nothing (other systems)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return available
    cores, package = set(), "0"
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            package = value.strip()
        elif key.strip() == "core id":
            cores.add((package, value.strip()))
    return max(1, min(len(cores) or available, available))


def apply_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for torch (intra-op) and for OpenMP/MKL/OpenBLAS libraries loaded later.

    Waiting OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``) unless the environment says
    otherwise: on a machine shared with other jobs a spinning barrier waits for threads that are not scheduled,
    and small tensor operations then take 10-100 times longer.
    """
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch  # after the variables, so that its OpenMP runtime reads them

    torch.set_num_threads(threads)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch (intra-op) threads, then restore the count; None leaves it as it is.

    Work spread over several Python threads sets 1, so that each runs its tensor operations on one core.
    """
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def reuse_freed_memory() -> bool:
    """Keep memory that tensors free for the next ones instead of returning it to the system (glibc only).

    glibc serves every allocation over 32 MB with a fresh ``mmap`` and unmaps it on free, so each large feature map
    of the fusion network is zero-filled by the kernel page by page when first written: at 640x480 about 1.3 GB of
    page faults per pair, a quarter of the network's time on the project's CPU. With ``mmap`` off for allocations
    and trimming above 2 GB only, freed blocks are reused (about 1.2x the pairs/s at 640x480 and 1920x1080); the
    price is fragmentation: the peak resident memory of whole-image fusion at 1920x1080 rises from about 4.3 to
    6.1 GB (it stays there over a batch). ``fuse --tile`` (the memory-bound mode) does not set it. Returns whether
    the setting took (False on other C libraries, where nothing changes).
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))
