"""``semfuse train``: train the fusion network: warm start, semantic phase with SegFormer-b0, or both."""

import argparse
from pathlib import Path
from typing import Any

from semfuse.names import ATTENTION_KINDS, PHASES, WARM_START_RULES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the fusion network (warm start, semantic phase, or both)",
        description="Train the fusion network in the paper's two phases: warm start (L1 to the average or maximum of "
        "the sources) and the semantic phase (jointly with SegFormer-b0 under cross-entropy + lambda * L_reg). "
        "Settings come from the defaults, then --config FILE, then the options below, then KEY=VALUE overrides, so an "
        "override beats an option (e.g. warm_start.iters=5000 data.crop=[128,128]). The resolved "
        "config, a JSONL log, checkpoints (last.pt) and the final fusion_net.safetensors go to the run directory.",
        epilog="examples:\n  semfuse train --phase warm-start --ir ir/ --vis vi/ --run-dir runs/ws\n"
        "  semfuse train --config configs/msrs.yaml                      # both phases on MSRS\n"
        "  semfuse train --config configs/msrs_boxes.yaml                # semantic phase from detection boxes\n"
        "  semfuse train --config configs/ablations/wo_reg.yaml          # Table II: w/o L_reg\n"
        "  semfuse train --config configs/msrs.yaml --exclude-classes 1 2 # Fig. 7: w/o Car&Person\n"
        "  torchrun --nproc_per_node 4 -m semfuse train --config configs/msrs.yaml   # data parallel\n"
        "  semfuse train --config configs/smoke.yaml --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. warm_start.iters=100")
    parser.add_argument("--config", type=Path, help="YAML config file (see configs/default.yaml)")
    parser.add_argument("--phase", choices=PHASES,
                        help="phase(s) to train, or the DenseFuse baseline (default: from the config)")
    parser.add_argument("--rule", "--warm-start", dest="rule", choices=WARM_START_RULES,
                        help="warm-start target: avg (paper, 'Ave'), max ('Max') or none ('w/o WS')")
    parser.add_argument("--attention", choices=ATTENTION_KINDS,
                        help="fusion-block attention (none = 'w/o SLA', channel = 'CHA', spatial = 'SPA')")
    parser.add_argument("--no-reg", action="store_true", help="leave L_reg out of the semantic loss ('w/o L_reg')")
    parser.add_argument("--no-sem", action="store_true", help="leave L_sem out: no segmenter ('w/o L_sem')")
    parser.add_argument("--exclude-classes", type=int, nargs="+", metavar="ID",
                        help="class ids left out of L_sem, e.g. 1 ('w/o Car'), 2 ('w/o Person'), 1 2")
    parser.add_argument("--val-data", type=Path, help="labelled MSRS/MFNet folder for validation (with --val-split)")
    parser.add_argument("--val-split", default="test", help="split of --val-data (default: test)")
    parser.add_argument("--ir", type=Path, help="infrared training folder (with --vis); replaces the config's sources")
    parser.add_argument("--vis", type=Path, help="visible training folder (with --ir)")
    parser.add_argument("--data", type=Path, help="MSRS/MFNet dataset folder; replaces the config's sources")
    parser.add_argument("--split", help="split of --data (train, val, test)")
    parser.add_argument("--run-dir", type=Path, help="where checkpoints and logs go")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from last.pt")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def option_values(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line as typed config values by dotted key (applied before the user's
    ``KEY=VALUE`` overrides)."""
    from semfuse.errors import SemfuseError

    if (args.ir is None) != (args.vis is None):
        raise SemfuseError("give both --ir and --vis, or neither")
    if args.ir is not None and args.data is not None:
        raise SemfuseError("give either --data or --ir and --vis, not both")
    values: dict[str, Any] = {}
    if args.ir is not None:
        values["data.sources"] = [{"ir": str(args.ir), "vis": str(args.vis)}]
    elif args.data is not None:
        values["data.sources"] = [{"root": str(args.data), "split": args.split}]
    if args.val_data is not None:
        values["data.val_sources"] = [{"root": str(args.val_data), "split": args.val_split}]
    simple = {"phase": args.phase, "warm_start.rule": args.rule, "model.attention": args.attention,
              "run_dir": str(args.run_dir) if args.run_dir else None, "device": args.device}
    values.update({key: value for key, value in simple.items() if value is not None})
    if args.no_reg:
        values["semantic.use_reg"] = False
    if args.no_sem:
        values["semantic.use_sem"] = False
    if args.exclude_classes:
        values["semantic.excluded_classes"] = list(args.exclude_classes)
    return values


def run(args: argparse.Namespace) -> int:
    from semfuse.config import load_config
    from semfuse.engine.trainer import fit
    from semfuse.errors import SemfuseError

    config = load_config(args.config, args.overrides, option_values(args))
    if not config.data.sources:
        raise SemfuseError("no training data: give --ir and --vis, --data, or a config with data.sources")
    fit(config, resume=args.resume, progress=not args.no_progress)
    return 0
