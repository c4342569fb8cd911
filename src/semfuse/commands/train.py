"""``semfuse train``: train the fusion network (warm-start phase)."""

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the fusion network",
        description="Train the fusion network. Settings come from the defaults, then --config FILE, then the "
        "options below, then KEY=VALUE overrides (e.g. warm_start.iters=5000 data.crop=[128,128]). The resolved "
        "config, a JSONL log, checkpoints (last.pt) and the final fusion_net.safetensors go to the run directory.",
        epilog="examples:\n  semfuse train --phase warm-start --ir ir/ --vis vi/ --run-dir runs/ws\n"
        "  semfuse train --config configs/warm_start_bundled.yaml\n"
        "  semfuse train --config configs/smoke.yaml --resume\n"
        "  semfuse train --data MSRS --split train --rule max model.attention=channel",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. warm_start.iters=100")
    parser.add_argument("--config", type=Path, help="YAML config file (see configs/default.yaml)")
    parser.add_argument("--phase", choices=["warm-start"], help="training phase (default: from the config)")
    parser.add_argument("--rule", choices=["avg", "max"], help="warm-start target: average (paper) or maximum")
    parser.add_argument("--ir", type=Path, help="infrared training folder (with --vis); replaces the config's sources")
    parser.add_argument("--vis", type=Path, help="visible training folder (with --ir)")
    parser.add_argument("--data", type=Path, help="MSRS/MFNet dataset folder; replaces the config's sources")
    parser.add_argument("--split", help="split of --data (train, val, test)")
    parser.add_argument("--run-dir", type=Path, help="where checkpoints and logs go")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from last.pt")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    from semfuse.config import Source, load_config
    from semfuse.engine.trainer import fit
    from semfuse.errors import SemfuseError

    config = load_config(args.config, args.overrides)
    if (args.ir is None) != (args.vis is None):
        raise SemfuseError("give both --ir and --vis, or neither")
    if args.ir is not None and args.data is not None:
        raise SemfuseError("give either --data or --ir and --vis, not both")
    if args.ir is not None:
        config.data.sources = [Source(ir=str(args.ir), vis=str(args.vis))]
    elif args.data is not None:
        config.data.sources = [Source(root=str(args.data), split=args.split)]
    if not config.data.sources:
        raise SemfuseError("no training data: give --ir and --vis, --data, or a config with data.sources")
    if args.phase:
        config.phase = args.phase
    if args.rule:
        config.warm_start.rule = args.rule
    if args.run_dir:
        config.run_dir = str(args.run_dir)
    if args.device:
        config.device = args.device
    fit(config, resume=args.resume, progress=not args.no_progress)
    return 0
