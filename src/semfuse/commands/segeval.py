"""``semfuse segeval``: the paper's segmentation protocol (SegFormer-b0 re-trained on each method's fused images)."""

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "segeval",
        help="re-train SegFormer-b0 on each method's fused images and print a Table I of Acc/IoU, mAcc, mIoU",
        description="The paper's segmentation protocol. For each method, a fresh SegFormer-b0 is trained from "
        "scratch on that method's fused images of the train split (labels from --data) and scored on its fused "
        "test images. Methods are folders of fused images named like the pairs (--fused NAME=DIR; any method, e.g. "
        "published results of another paper) or registered methods fused on the fly (--method NAME). The schedule "
        "is the config's semantic section (default: 160k iterations, batch 4); set e.g. semantic.iters=20000. "
        "Writes OUT/table.md (Table I layout), OUT/table.csv, OUT/scores.json and OUT/runs/NAME/ (logs, checkpoints).",
        epilog="examples:\n"
        "  semfuse segeval --data MSRS --fused ours=fused/ours --fused SeAFusion=results/seafusion --out table1/\n"
        "  semfuse segeval --data MSRS --method semfuse --method average --out table1/ semantic.iters=20000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. semantic.iters=2000")
    parser.add_argument("--data", type=Path, required=True, help="labelled MSRS or MFNet folder (train and test)")
    parser.add_argument("--fused", action="append", default=[], metavar="NAME=DIR",
                        help="a method's folder of fused images (train and test pairs); repeat for several")
    parser.add_argument("--method", action="append", default=[], metavar="NAME",
                        help="a registered method to fuse the pairs with first (see 'semfuse methods'); repeatable")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--config", type=Path, help="YAML config (its data.crop/scale and semantic sections are used)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    from semfuse.commands.evaluate import parse_fused
    from semfuse.config import load_config
    from semfuse.engine.trainer import resolve_device
    from semfuse.errors import SemfuseError
    from semfuse.evaluation.segmentation import fuse_for_protocol, run_segeval

    config = load_config(args.config, args.overrides)
    if args.device:
        config.device = args.device
    fused = parse_fused(args.fused)
    device = str(resolve_device(config.device))
    for method in args.method:
        if method in fused:
            raise SemfuseError(f"method name {method!r} is given by both --fused and --method")
        fused[method] = fuse_for_protocol(method, args.data, args.out, device, args.overwrite, not args.no_progress)
    if not fused:
        raise SemfuseError("no method to evaluate; give --fused NAME=DIR or --method NAME")
    results = run_segeval(args.data, fused, args.out, config, args.overwrite, not args.no_progress)
    print((args.out / "table.md").read_text())
    problems = [problem for result in results.values() for problem in result.problems]
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0
