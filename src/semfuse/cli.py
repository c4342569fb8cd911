"""The ``semfuse`` command line: one parser, one thin adapter module per subcommand in :mod:`semfuse.commands`.

Each module in ``semfuse.commands`` has ``add_parser(subparsers)``, which adds its subparser and sets
``run=function(args) -> int``. Heavy imports (torch) happen inside ``run`` so that ``--help`` stays fast.
Every subcommand also takes ``--threads N`` (default: the machine's physical cores), applied before ``run``.
"""

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from semfuse import __version__
from semfuse.errors import SemfuseError

COMMANDS = ("demo", "fuse", "methods", "train", "evaluate", "segeval", "report", "export")
IMAGE_COMMANDS = ("fuse", "train", "evaluate", "segeval")  # commands that read images take --max-pixels
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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a thread count; give 1 or more")
    return value


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semfuse",
        description="Semantic-driven infrared-visible image fusion: fuse, train, evaluate.",
        epilog="Run 'semfuse COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"semfuse {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"semfuse.commands.{name}").add_parser(subparsers)
    cores = physical_cores()
    for subparser in subparsers.choices.values():
        subparser.add_argument(
            "--threads",
            type=positive_int,
            default=cores,
            metavar="N",
            help=f"CPU threads for computing (default: the machine's physical cores, here {cores})",
        )
    from semfuse.constants import DEFAULT_MAX_PIXELS  # not semfuse.data: it loads torch, before apply_threads

    for name in IMAGE_COMMANDS:
        subparsers.choices[name].add_argument(
            "--max-pixels",
            type=positive_int,
            metavar="N",
            help=f"refuse images over N pixels (width x height) before decoding them, a guard against decompression "
            f"bombs (default: {DEFAULT_MAX_PIXELS:,})",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``semfuse`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    apply_threads(args.threads)
    if args.command in IMAGE_COMMANDS and getattr(args, "tile", None) is None:  # --tile: memory first
        reuse_freed_memory()
    from semfuse.data.io import set_max_pixels
    from semfuse.interrupts import sigterm_as_interrupt

    try:
        set_max_pixels(getattr(args, "max_pixels", None))
        with sigterm_as_interrupt():  # SIGTERM stops like Ctrl-C: a one-line summary, no half-written file
            return int(args.run(args) or 0)
    except SemfuseError as error:
        print(f"semfuse {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interruption:
        detail = f": {interruption}" if str(interruption) else ""
        print(f"semfuse {args.command}: interrupted{detail}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
