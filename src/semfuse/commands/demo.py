"""``semfuse demo``: fuse the bundled samples with the bundled weights and write a metrics report."""

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="fuse the bundled sample pairs and write fused images plus a metrics report",
        description="Fuse the six bundled sample pairs (MSRS, TNO, RoadScene) with the bundled semfuse weights and "
        "with the pixel average, then score both with the metric panel. Writes OUT/fused/<method>/*.png and "
        "OUT/metrics/ (metrics.csv, summary.csv, summary.md, cdf/*.png|svg) and OUT/report.html (the HTML comparison "
        "report), prints the summary table and, last, the path of the report.",
    )
    parser.add_argument("--out", type=Path, default=Path("semfuse-demo"), help="output folder (default: semfuse-demo)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda if available)")
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier demo")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from semfuse.demo import run_demo
    from semfuse.device import resolve_device

    result = run_demo(args.out, str(resolve_device(args.device)), args.overwrite, progress=not args.no_progress)
    summary = next(path for path in result.evaluation.outputs if path.name == "summary.md")
    print(summary.read_text())
    print(f"fused images: {', '.join(str(path) for path in result.fused_dirs.values())}")
    print(f"metrics: {summary.parent} (metrics.csv per image, summary.csv, summary.md, cdf/ plots)")
    for problem in result.failed:
        print(f"problem: {problem}")
    print(f"report: {result.report} (open it in a browser)")
    return 1 if result.failed else 0
