"""``semfuse segeval``: the paper's segmentation protocol (SegFormer-b0 re-trained on each method's fused images)."""

import argparse
from pathlib import Path

from semfuse.commands.options import add_report_option, parse_named_paths, planned_report, write_and_log


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segeval",
        help="re-train SegFormer-b0 on each method's fused images and print a Table I of Acc/IoU, mAcc, mIoU",
        description="The paper's segmentation protocol. For each method (and seed), a fresh SegFormer-b0 is trained "
        "from scratch on that method's fused images of the train split (labels from --data: label maps, or boxes "
        "with a classes.txt) and scored on its fused images of the test split (test/, or val/ when there is no "
        "test/). Methods are folders of fused images named like the pairs (--fused NAME=DIR; any method, e.g. "
        "published results of another paper) or registered methods fused on the fly (--method NAME). The schedule "
        "is the config's semantic section (default: 160k iterations, batch 4); configs/segeval_msrs_boxes.yaml is a "
        "CPU-sized one. Writes OUT/table.md (Table I layout), OUT/table.csv, OUT/scores.json and "
        "OUT/runs/NAME/seedN/ (logs, checkpoints, predictions of the first seed).",
        epilog="examples:\n"
        "  semfuse segeval --data MSRS --fused ours=fused/ours --fused SeAFusion=results/seafusion --out table1/\n"
        "  semfuse segeval --data MSRS --method semfuse --method average --out table1/ semantic.iters=20000\n"
        "  semfuse segeval --data ../shared/data/msrs_boxes --config configs/segeval_msrs_boxes.yaml \\\n"
        "      --method average --method semfuse --seeds 0 1 2 --out proxy_table1/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. semantic.iters=2000")
    parser.add_argument("--data", type=Path, required=True,
                        help="labelled data set: MSRS (Label/), box layout (boxes/ + classes.txt) or MFNet")
    parser.add_argument("--test-split", help="split to score on (default: test, or val when there is no test/)")
    parser.add_argument("--fused", action="append", default=[], metavar="NAME=DIR",
                        help="a method's folder of fused images (train and test pairs); repeat for several")
    parser.add_argument("--method", action="append", default=[], metavar="NAME",
                        help="a registered method to fuse the pairs with first (see 'semfuse methods'); repeatable")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="N",
                        help="train one segmenter per seed; the table gives mean ± std (default: the config's seed)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--config", type=Path, help="YAML config (its data and semantic sections are used)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_report_option(parser, "also write OUT/report.html: Table I, prediction overlays (where the runs saved "
                      "predictions), provenance")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from semfuse.config import load_config
    from semfuse.device import resolve_device
    from semfuse.errors import SemfuseError
    from semfuse.evaluation.segmentation import fuse_for_protocol, protocol_data, run_segeval
    from semfuse.report.provenance import run_record, write_run_record

    report = planned_report(args)
    flags = [f"device={args.device}"] if args.device else []
    config = load_config(args.config, flags + args.overrides)
    config.validate()
    fused = parse_named_paths(args.fused)
    if not fused and not args.method:
        raise SemfuseError("no method to evaluate; give --fused NAME=DIR or --method NAME")
    data = protocol_data(args.data, config, args.test_split)
    device = str(resolve_device(config.device))
    for method in args.method:
        if method in fused:
            raise SemfuseError(f"method name {method!r} is given by both --fused and --method")
        fused[method] = fuse_for_protocol(method, data, args.out, device, args.overwrite, not args.no_progress)
    results = run_segeval(data, fused, args.out, config, args.seeds, args.overwrite, not args.no_progress)
    print((args.out / "table.md").read_text())
    write_run_record(args.out, run_record({"data": args.data}, fused), overwrite=True)  # provenance for the report
    if report is not None:
        print(f"report: {write_and_log(report, None, args.out, args.overwrite)}")
    problems = [problem for result in results.values() for problem in result.problems]
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0
