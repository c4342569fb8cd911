"""Options shared by several commands: ``NAME=PATH`` lists and ``--report`` (add it, refuse outputs, write it).

Imports stay light (no torch) so that building the parser, and ``--help``, stays fast.
"""

import argparse
import logging
from pathlib import Path

from semfuse.errors import SemfuseError
from semfuse.files import refuse_existing

logger = logging.getLogger("semfuse.report")


def parse_named_paths(values: list[str], option: str = "--fused") -> dict[str, Path]:
    """``["NAME=DIR", ...]`` -> ``{NAME: Path(DIR)}``, in the order given (also for ``--weights NAME=FILE``).

    Example:
        >>> parse_named_paths(["ours=out/ours", "avg = out/avg"])
        {'ours': PosixPath('out/ours'), 'avg': PosixPath('out/avg')}

    Raises:
        SemfuseError: for an entry without '=', an empty name or folder, or a repeated name.
    """
    folders: dict[str, Path] = {}
    for value in values:
        name, separator, folder = value.partition("=")
        name, folder = name.strip(), folder.strip()
        if not separator or not name or not folder:
            form, example = ("NAME=FILE", "ours=w.safetensors") if option == "--weights" else \
                ("NAME=DIR", "ours=results/ours")
            raise SemfuseError(f"{option} {value!r} is not {form}; write e.g. {option} {example}")
        if name in folders:
            raise SemfuseError(f"method name {name!r} is given twice in {option}; give each method its own name")
        folders[name] = Path(folder)
    return folders


def add_report_option(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--report`` (a flag: also write OUT/report.html) with the command's own ``help``."""
    parser.add_argument("--report", action="store_true", help=help)


def default_report_path(folder: Path) -> Path:
    """Where a report goes unless told: ``report.html`` in the (evaluate or segeval) output folder."""
    return Path(folder) / "report.html"


def planned_report(args: argparse.Namespace) -> Path | None:
    """OUT/report.html when ``--report`` is given, else None; an existing report (or its images) is refused up
    front unless ``--overwrite``, before any work is done."""
    if not args.report:
        return None
    from semfuse.report.html import files_dir_of

    report = default_report_path(args.out)
    refuse_existing([report, files_dir_of(report)], args.overwrite)
    return report


def write_and_log(out: Path, evaluation: Path | None, segeval: Path | None, overwrite: bool, **options) -> Path:
    """Write the report, log what it holds, and return its path (shared by report, evaluate and segeval)."""
    from semfuse.report.html import write_report

    result = write_report(out, evaluation, segeval, overwrite=overwrite, **options)
    logger.info("report: %s (%d pairs, %d methods, %d images; thumbnails in %s)", result.html, result.pairs,
                result.methods, result.images, result.files_dir)
    if result.missing:
        logger.warning("report: %d image(s) could not be read and show as missing", result.missing)
    return result.html
