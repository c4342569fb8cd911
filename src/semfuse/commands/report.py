"""``semfuse report``: the HTML comparison report of an evaluate folder and/or a segeval folder."""

import argparse
from pathlib import Path

from semfuse.commands.options import default_report_path, parse_named_paths, write_and_log


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write an HTML report (summary table, CDF plots, zoomable gallery, Table I) of evaluate/segeval outputs",
        description="Write one HTML file that opens without network access: the summary table (mean ± std, best in\n"
        "bold, sortable), the CDF plot of every metric, a gallery of every pair (infrared, visible and each\n"
        "method's fused image, zoomed and panned together, with the pair's metric values), Table I and\n"
        "prediction overlays of a segeval folder, and the provenance (version, commit, command, weights).\n"
        "Thumbnails go to REPORT_files/ beside the HTML; full-size images are linked where they are (or\n"
        "copied with --copy-images, so that the report folder can be moved) and loaded only when zooming.",
        epilog="examples:\n"
        "  semfuse report --evaluation eval/                       # writes eval/report.html\n"
        "  semfuse report --evaluation eval/ --segeval table1/ --out results.html --copy-images\n"
        "  semfuse report --evaluation old_eval/ --ir tno/ir --vis tno/vi --fused ours=out/ours",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--evaluation", type=Path, metavar="DIR", help="output folder of 'semfuse evaluate'")
    parser.add_argument("--segeval", type=Path, metavar="DIR", help="output folder of 'semfuse segeval'")
    parser.add_argument("--out", type=Path, metavar="FILE.html",
                        help="the report (default: report.html in the evaluation folder, else the segeval folder)")
    parser.add_argument("--copy-images", action="store_true",
                        help="copy the full-size images beside the report instead of linking them")
    parser.add_argument("--ir", type=Path, metavar="DIR", help="infrared folder (default: as recorded in run.json)")
    parser.add_argument("--vis", type=Path, metavar="DIR", help="visible folder (default: as recorded in run.json)")
    parser.add_argument("--fused", action="append", default=[], metavar="NAME=DIR",
                        help="a method's folder of fused images (default: as recorded in run.json); repeatable")
    parser.add_argument("--title", help="page title")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report")
    parser.set_defaults(run=run)


def run(args) -> int:
    from semfuse.errors import SemfuseError

    if args.evaluation is None and args.segeval is None:
        raise SemfuseError("give --evaluation DIR (an evaluate output folder), --segeval DIR, or both")
    folders = {key: value for key, value in (("ir", args.ir), ("vis", args.vis)) if value is not None}
    if args.fused:
        folders["fused"] = parse_named_paths(args.fused)
    out = args.out or default_report_path(args.evaluation or args.segeval)
    path = write_and_log(out, args.evaluation, args.segeval, args.overwrite, copy_images=args.copy_images,
                         folders=folders, title=args.title)
    print(path)
    return 0
