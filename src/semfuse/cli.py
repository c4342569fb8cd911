"""The ``semfuse`` command line: one parser, one thin adapter module per subcommand in :mod:`semfuse.commands`.

Each module in ``semfuse.commands`` has ``add_parser(subparsers)``, which adds its subparser and sets
``run=function(args) -> int``. Heavy imports (torch) happen inside ``run`` so that ``--help`` stays fast.
Every subcommand also takes ``--threads N`` (default: the machine's physical cores), applied before ``run``.
"""

import argparse
import importlib
import logging
import sys

from semfuse.errors import SemfuseError
from semfuse.process import apply_threads, physical_cores, reuse_freed_memory
from semfuse.version import __version__

COMMANDS = ("demo", "fuse", "methods", "train", "evaluate", "segeval", "report", "export")
IMAGE_COMMANDS = ("fuse", "train", "evaluate", "segeval")  # commands that read images take --max-pixels


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a thread count; give 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``semfuse`` parser: every subcommand, with ``--threads`` (and ``--max-pixels`` where it reads images)."""
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
