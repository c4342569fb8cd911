"""``semfuse fuse``: fuse one pair or folders of pairs with any registered method."""

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from semfuse.names import BUNDLED_WEIGHTS, METHODS, PRECISIONS, methods_with_bundled_weights

if TYPE_CHECKING:
    from semfuse.data.pairs import Pair, PairListing
    from semfuse.engine.distributed import DistributedContext
    from semfuse.inference import FuseSummary
    from semfuse.methods.registry import FuseFn

logger = logging.getLogger("semfuse.fuse")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fuse",
        help="fuse infrared/visible pairs (files or folders) into images",
        description="Fuse infrared/visible pairs. Folders are paired by file stem; each pair gives OUT/NAME.png of "
        "the input's size, in colour when the visible image is in colour (luminance fused, visible chroma restored). "
        "Videos (.mp4, .mkv, .mov, .avi) are fused frame by frame: each infrared frame with the visible frame nearest "
        "in time, into a video of the infrared one's size, rate and frames.",
        epilog="examples:\n  semfuse fuse --ir ir/ --vis vi/ --out fused/\n"
        "  semfuse fuse --ir a_ir.png --vis a_vis.png --out a_fused.png\n"
        "  semfuse fuse --data MSRS --split test --out fused/ --device cuda\n"
        "  semfuse fuse --ir ir/ --vis vi/ --out fused_avg/ --method average\n"
        "  semfuse fuse --ir ir.mp4 --vis vis.mp4 --out fused.mp4   # video (.mp4 .mkv .mov .avi; docs/video.md)\n"
        "  torchrun --nproc_per_node 4 -m semfuse fuse --data LLVIP --out fused/   # folders: 4 GPUs/processes, each "
        "pair once,\n"
        "      one summary; add --nnodes M --node_rank K --rdzv_backend c10d --rdzv_endpoint HOST:PORT for M "
        "machines\n      sharing the output folder (README: Many GPUs and machines)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("input (either --ir and --vis, or --data)")
    source.add_argument("--ir", type=Path, help="infrared image file or folder, or video")
    source.add_argument("--vis", type=Path, help="visible image file or folder (grey or colour), or video")
    source.add_argument("--data", type=Path, help="dataset folder in the MSRS (ir/, vi/) or MFNet (images/) layout")
    source.add_argument("--split", help="split of --data: train, val or test (default: the folder itself / all)")
    parser.add_argument("--out", type=Path, required=True, help="output folder, or an image file for a single pair, "
                        "or a video file (.mp4, .mkv, .mov: H.264; .avi: MPEG-4) for a video pair")
    parser.add_argument("--max-offset", type=float, metavar="S",
                        help="videos: skip (and report) an infrared frame whose nearest visible frame is more than S "
                        "seconds away (default: one frame interval of the slower video)")
    parser.add_argument("--method", default="semfuse", help=f"fusion method: {', '.join(METHODS)} (see 'semfuse "
                        "methods'; default: semfuse)")
    parser.add_argument("--weights", help=f"weights of a network method ({', '.join(methods_with_bundled_weights())}): "
                        f"a bundled name ({', '.join(BUNDLED_WEIGHTS)}) or a .safetensors file (default: the method's "
                        "bundled weights)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda if available)")
    parser.add_argument("--tile", type=int, metavar="N",
                        help="network methods that support it (semfuse): fuse in N x N tiles (64-pixel halo, "
                        "whole-image attention context) to bound memory, e.g. --tile 1024 for 4K on the CPU; differs "
                        "from whole-image fusion by far less than one grey level (benchmarks/README.md)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="network methods that support it (semfuse): fp32 (default) or bf16, bfloat16 autocast, "
                        "1.5-3x as fast on CUDA and on CPUs with AMX (slower on other CPUs), within about 2 grey "
                        "levels of fp32 (benchmarks/README.md)")
    parser.add_argument("--batch", type=int, metavar="N",
                        help="folders: fuse up to N consecutive pairs of equal size in one call (default: 1 on the "
                        "CPU, where batching is slower and not bit-exact; 8 on CUDA)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="folders: N threads read and decode the next pairs and N threads encode and write the "
                        "fused ones while the method runs (default: on CUDA one per physical core, up to 8; on the CPU "
                        "0, one pair after the other in one thread, as the network keeps every core busy there); the "
                        "output files are the same bytes whatever N")
    parser.add_argument("--stretch", action="store_true",
                        help="min-max stretch each fused image to the full range, as the authors' test code does "
                        "before saving (the paper does not say so); raises EN, SD, SF and AG without adding "
                        "information, so it is off by default (docs/method.md)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--skip-existing", action="store_true",
                        help="keep pairs already fused in --out and fuse the rest (finishes an interrupted batch)")
    parser.add_argument("--segment", action="store_true",
                        help="also write the jointly trained segmenter's label maps (OUT/labels/NAME.png, class ids) "
                        "and colour overlays (OUT/overlays/NAME.png); for a video, the overlay video "
                        "OUT_overlay.EXT beside it; needs semantic weights")
    parser.add_argument("--segmenter", type=Path, help="segmenter weights for --segment (default: the one that "
                        "belongs to --weights)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def _pair_listing(args: argparse.Namespace) -> "PairListing | None":
    """The pairs of ``--data`` or of ``--ir``/``--vis`` folders; None for one pair of files."""
    from semfuse.data.pairs import discover_pairs, pair_folders
    from semfuse.errors import SemfuseError

    if args.data is not None:
        if args.ir is not None or args.vis is not None:
            raise SemfuseError("give either --data or --ir and --vis, not both")
        return discover_pairs(args.data, args.split)
    if args.ir is None or args.vis is None:
        raise SemfuseError("give --ir and --vis (files or folders), or --data with a dataset folder")
    if args.ir.is_file() != args.vis.is_file():
        raise SemfuseError("--ir and --vis must both be files or both be folders")
    return None if args.ir.is_file() else pair_folders(args.ir, args.vis)


def _single_pair_target(args: argparse.Namespace) -> tuple[Path, str]:
    """For --ir FILE --vis FILE: (output folder, output name)."""
    from semfuse.data.io import IMAGE_EXTENSIONS

    if args.out.suffix.lower() in IMAGE_EXTENSIONS:
        if args.out.suffix.lower() != ".png":
            from semfuse.errors import SemfuseError

            raise SemfuseError(f"fused images are written as PNG; name the output {args.out.with_suffix('.png')}")
        return args.out.parent, args.out.stem
    return args.out, args.ir.stem


def _pairs_to_fuse(args: argparse.Namespace) -> tuple[Path, list["Pair"], list[str]]:
    """(output folder, pairs to fuse, one message per unpaired file) of the input options."""
    from semfuse.data.io import IMAGE_EXTENSIONS
    from semfuse.data.pairs import Pair
    from semfuse.errors import SemfuseError

    listing = _pair_listing(args)
    if listing is None:
        out_dir, name = _single_pair_target(args)
        return out_dir, [Pair(name, args.ir, args.vis)], []
    if args.out.suffix.lower() in IMAGE_EXTENSIONS:
        raise SemfuseError(f"--out {args.out} looks like a file, but the input is a folder; give an output folder")
    return args.out, listing.pairs, listing.unpaired


def _segmenter_weights(args: argparse.Namespace) -> Path | None:
    """The segmenter of ``--segment``/``--segmenter``; None when no segmentation is asked for."""
    if not (args.segment or args.segmenter):
        return None
    from semfuse.errors import SemfuseError
    from semfuse.models.weights import segmenter_for

    if args.method != "semfuse" and args.segmenter is None:
        raise SemfuseError("--segment needs the semfuse network with semantic weights, or --segmenter FILE")
    segmenter = args.segmenter if args.segmenter is not None else segmenter_for(args.weights)
    if not Path(segmenter).is_file():
        raise SemfuseError(f"segmenter weights {segmenter} do not exist")
    return Path(segmenter)


def _build_method(args: argparse.Namespace) -> "FuseFn":
    """The fusion callable of ``--method`` with ``--weights`` and ``--device``: the one :func:`semfuse.load`
    builds, so the command line and the Python API fuse the same way."""
    from semfuse.api import load
    from semfuse.errors import SemfuseError

    tile = getattr(args, "tile", None)
    if tile is not None and tile < 8:
        raise SemfuseError("--tile needs N >= 8, e.g. --tile 1024")
    return load(args.weights, method=args.method, device=args.device, tile=tile,
                precision=getattr(args, "precision", None)).fuse_fn


def _log_outcome(args: argparse.Namespace, summary: "FuseSummary", pairs: int, unpaired: list[str],
                 out_dir: Path, processes: int = 1) -> int:
    """Log what was fused and every failure; the exit status: 1 when a pair was not fused, else 0."""
    failed = len(summary.failed) + len(unpaired)
    kept = f" ({len(summary.skipped)} fused before, kept)" if summary.skipped else ""
    shared = f" by {processes} processes" if processes > 1 else ""
    logger.info("fused %d of %d pair(s) into %s with %s%s%s", len(summary.written), pairs + len(unpaired), out_dir,
                args.method, shared, kept)
    if failed:
        logger.error("%d pair(s) not fused:", failed)
        for message in unpaired + summary.failed:
            logger.error("  %s", message)
        return 1
    return 0


def _is_video(args: argparse.Namespace) -> bool:
    """Whether the options name videos; if any of --ir, --vis and --out does, all three must."""
    from semfuse.data.videos import VIDEO_EXTENSIONS
    from semfuse.errors import SemfuseError

    paths = {"--ir": args.ir, "--vis": args.vis, "--out": args.out}
    videos = {flag for flag, path in paths.items() if path is not None and path.suffix.lower() in VIDEO_EXTENSIONS}
    if not videos:
        return False
    if args.data is not None or len(videos) < 3:
        flag = next(flag for flag in paths if flag not in videos) if args.data is None else "--data"
        raise SemfuseError(f"{flag} is not a video ({', '.join(VIDEO_EXTENSIONS)}) but {', '.join(sorted(videos))} "
                           "is; fuse videos with --ir IR.mp4 --vis VIS.mp4 --out FUSED.mp4")
    for flag, given in (("--stretch", args.stretch), ("--skip-existing", args.skip_existing)):
        if given:
            raise SemfuseError(f"{flag} applies to images, not to videos; leave it out")
    if args.max_offset is not None and args.max_offset < 0:
        raise SemfuseError(f"--max-offset must be 0 or more seconds, not {args.max_offset}")
    return True


def _run_video(args: argparse.Namespace) -> int:
    """``semfuse fuse`` for a video pair; the exit status: 1 when a frame was left unfused, else 0."""
    from semfuse.device import resolve_device
    from semfuse.video import fuse_video

    segmenter_weights = _segmenter_weights(args)
    fuse = _build_method(args)
    device = resolve_device(args.device)
    segmenter = None
    if segmenter_weights is not None:
        from semfuse.models.weights import load_segmenter

        segmenter = load_segmenter(segmenter_weights, device)
    summary = fuse_video(fuse, args.ir, args.vis, args.out, max_offset=args.max_offset, overwrite=args.overwrite,
                         progress=not args.no_progress, segmenter=segmenter, device=device)
    overlay = f" and its overlay video {summary.overlay}" if summary.overlay is not None else ""
    logger.info("fused %d of %d infrared frame(s) into %s%s with %s (%.1f frames/s)", summary.written,
                summary.infrared_frames, summary.out, overlay, args.method, summary.fps)
    shown = 10
    for message in summary.skipped[:shown]:
        logger.error("skipped: %s", message)
    if len(summary.skipped) > shown:
        logger.error("skipped: %d more infrared frame(s) without a visible frame", len(summary.skipped) - shown)
    if summary.ended_early is not None:
        logger.error("ended early: %s", summary.ended_early)
    return 0 if summary.complete else 1


@dataclass
class _Plan:
    """What rank 0 decides before any rank writes: the pairs, and under torchrun the outputs kept (--skip-existing)."""

    out_dir: Path
    pairs: list["Pair"]
    unpaired: list[str]
    segmenter: Path | None
    kept: list[str] | None = None  # names of the pairs fused before, decided once for every rank; None: one process


def _plan(args: argparse.Namespace, context: "DistributedContext") -> _Plan:
    """Check the options and list the pairs; under torchrun also refuse existing outputs or find those to keep."""
    from semfuse.errors import SemfuseError
    from semfuse.files import refuse_existing
    from semfuse.inference import output_path

    out_dir, pairs, unpaired = _pairs_to_fuse(args)
    for message in unpaired:
        logger.warning("unpaired, skipped: %s", message)
    if not pairs:
        raise SemfuseError("no pairs to fuse: no infrared and visible files share a name")
    plan = _Plan(out_dir, pairs, unpaired, _segmenter_weights(args))
    if not context.enabled:
        return plan
    if args.overwrite and args.skip_existing:
        raise SemfuseError("give --overwrite (redo every pair) or --skip-existing (keep finished pairs), not both")
    if not args.skip_existing:
        refuse_existing([output_path(out_dir, pair.name) for pair in pairs], args.overwrite)
        plan.kept = []
        return plan
    plan.kept = sorted(pair.name for pair in pairs if output_path(out_dir, pair.name).exists())
    if plan.kept:
        logger.info("%d pair(s) already fused in %s, skipped", len(plan.kept), out_dir)
    return plan


def _fuse_share(args: argparse.Namespace, plan: _Plan, context: "DistributedContext") -> "FuseSummary":
    """Fuse (and segment) this process's share of the pairs: all of them without torchrun."""
    from semfuse.device import resolve_device
    from semfuse.inference import FuseSummary, default_batch, default_workers, fuse_pairs, output_path
    from semfuse.sharding import shard

    pairs, kept = plan.pairs, []
    if plan.kept is not None:
        kept_names = set(plan.kept)
        pairs = shard([pair for pair in pairs if pair.name not in kept_names], context.rank, context.world_size)
        kept = [output_path(plan.out_dir, name) for name in shard(plan.kept, context.rank, context.world_size)]
    summary = FuseSummary()
    if pairs:
        fuse, device = _build_method(args), resolve_device(args.device)
        batch = args.batch if args.batch is not None else default_batch(device)
        workers = args.workers if args.workers is not None else default_workers(device)
        summary = fuse_pairs(fuse, pairs, plan.out_dir, overwrite=args.overwrite,
                             progress=not args.no_progress and context.is_main, skip_existing=args.skip_existing,
                             stretch=args.stretch, batch=batch, workers=workers)
    summary.skipped += kept
    if plan.segmenter is not None and summary.skipped + summary.written:
        from semfuse.segmentation import segment_images

        summary.failed += segment_images(summary.skipped + summary.written, plan.segmenter, plan.out_dir,
                                         str(resolve_device(args.device)), args.overwrite or args.skip_existing,
                                         not args.no_progress and context.is_main)
    return summary


def run(args: argparse.Namespace) -> int:
    """Fuse the pairs of the input options (and segment the fused images with ``--segment``); or a video pair.

    Under ``torchrun`` every process fuses its share of the pairs into the one output folder, and rank 0 logs the
    merged summary (:mod:`semfuse.sharding`); every process returns the same exit status.
    """
    from semfuse.errors import SemfuseError
    from semfuse.sharding import (
        all_gather,
        decide_on_main,
        fail_once,
        local_device,
        merge_fuse_summaries,
        torchrun_group,
    )

    with torchrun_group(args.device) as context:
        if context.enabled:
            args.device = local_device(args.device, context.local_rank)
        if decide_on_main(context, lambda: _is_video(args)):
            if context.enabled:
                fail_once(context, SemfuseError("a video pair is one item and cannot be shared between torchrun's "
                                                "processes; fuse it with 'semfuse fuse' alone, and several videos as "
                                                "separate commands"))
            return _run_video(args)
        plan = decide_on_main(context, lambda: _plan(args, context))
        summary = merge_fuse_summaries(all_gather(context, _fuse_share(args, plan, context)))
        if not context.is_main:
            return 1 if summary.failed or plan.unpaired else 0
        return _log_outcome(args, summary, len(plan.pairs), plan.unpaired, plan.out_dir, context.world_size)
