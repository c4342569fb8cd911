"""The ``semfuse`` command line: one parser, one thin adapter module per subcommand in :mod:`semfuse.commands`.

Each module in ``semfuse.commands`` has ``add_parser(subparsers)``, which adds its subparser and sets
``run=function(args) -> int``. Heavy imports (torch) happen inside ``run`` so that ``--help`` stays fast.
"""

import argparse
import importlib
import logging
import sys

from semfuse import __version__
from semfuse.errors import SemfuseError

COMMANDS = ("demo", "fuse", "methods", "train", "evaluate", "segeval")


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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``semfuse`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return int(args.run(args) or 0)
    except SemfuseError as error:
        print(f"semfuse {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"semfuse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
