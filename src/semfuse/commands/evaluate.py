"""``semfuse evaluate``: score the fused images of one or more methods with the fusion metric panel."""

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from semfuse.names import METRIC_PANEL, METRICS_ON_REQUEST

if TYPE_CHECKING:
    from semfuse.engine.distributed import DistributedContext

logger = logging.getLogger("semfuse.evaluate")


def add_parser(subparsers) -> None:
    from semfuse.commands.options import add_report_option

    parser = subparsers.add_parser(
        "evaluate",
        help="score fused images against their sources (EN, SD, SF, ... MS-SSIM, PSNR) and plot CDFs",
        description="Score every method's fused images against the infrared and visible images, paired by file\n"
        "stem, with the metrics of the MATLAB code fusion papers use (docs/metrics.md). Colour images are\n"
        "converted to grey with MATLAB's rgb2gray. Writes, under OUT:\n"
        "  metrics.csv             one row per method and image\n"
        "  summary.csv, summary.md mean ± std per method (best in bold, ↑/↓ = higher/lower is better)\n"
        "  cdf/METRIC.png, .svg    cumulative distribution over the image pairs, one curve per method\n"
        "Missing or size-mismatched images are reported and skipped; the exit status is then 1.\n"
        "Under torchrun (torchrun --nproc_per_node N -m semfuse evaluate ...) each process scores a share of the\n"
        "pairs and the first writes the same files as one process would.",
        epilog="examples:\n"
        "  semfuse evaluate --ir tno/ir --vis tno/vi --fused ours=out/ours --fused avg=out/avg --out eval/\n"
        "  semfuse evaluate --ir ir/ --vis vi/ --fused ours=fused/ --out eval/ --metrics EN,SF,AG,MI,VIF,Qabf",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ir", type=Path, required=True, metavar="DIR", help="folder of infrared images")
    parser.add_argument("--vis", type=Path, required=True, metavar="DIR", help="folder of visible images")
    parser.add_argument(
        "--fused",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="a method's name and its folder of fused images named like the sources; repeat for several methods",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder for tables and plots")
    parser.add_argument(
        "--metrics",
        metavar="LIST",
        help=f"comma-separated metrics from {', '.join(METRIC_PANEL)} (default: these, in this order) and the slower "
        f"{', '.join(METRICS_ON_REQUEST)}",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_report_option(parser, "also write OUT/report.html, the HTML comparison report (see 'semfuse report --help')")
    parser.add_argument("--weights", action="append", default=[], metavar="NAME=FILE",
                        help="the weights file a method's images were fused with, recorded in OUT/run.json and "
                        "shown in the report with its card; repeatable")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Score and write the tables; under ``torchrun`` every process scores a share and rank 0 writes them."""
    from semfuse.sharding import decide_on_main, torchrun_group

    with torchrun_group("cpu") as context:
        return _evaluate(args, *decide_on_main(context, lambda: _options(args)), context)


def _options(args) -> tuple[Path | None, dict[str, Path], dict[str, Path]]:
    """The report file, the fused folders and the weights files of the options, checked (once, under torchrun)."""
    from semfuse.commands.options import parse_named_paths, planned_report

    return planned_report(args), parse_named_paths(args.fused), parse_named_paths(args.weights, "--weights")


def _evaluate(args, report: Path | None, fused: dict[str, Path], weights: dict[str, Path],
              context: "DistributedContext") -> int:
    from semfuse.commands.options import write_and_log
    from semfuse.evaluation.fusion import evaluate_methods

    result = evaluate_methods(
        args.ir,
        args.vis,
        fused,
        args.out,
        metrics=args.metrics,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        weights=weights,
        workers=getattr(args, "threads", 1),  # one triplet per thread, one torch thread each
        context=context,
    )
    if not context.is_main:
        return 1 if result.problems else 0
    scored = sum(len(images) for images in result.scores.values())
    logger.info("scored %d fused images of %d methods; wrote %s", scored, len(result.scores), args.out)
    if report is not None:
        write_and_log(report, args.out, None, args.overwrite)
    if result.problems:
        logger.warning("%d files or pairs were skipped (see the warnings above)", len(result.problems))
        return 1
    return 0
