"""Folder -> fused images, for any registered fusion method.

Every method fuses luminance: the visible image's BT.601 Y (or the grey image itself) with the infrared image;
when the visible image is in colour its Cb/Cr are put back (:mod:`semfuse.data.colour`). The output has the
input's size and is grey exactly when the visible input is grey.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from semfuse.data.colour import luminance, restore_colour
from semfuse.data.io import write_image
from semfuse.data.pairs import Pair, load_pair
from semfuse.errors import SemfuseError
from semfuse.files import OutputExistsError, OutputWriteError, refuse_existing
from semfuse.interrupts import summarise_interruption
from semfuse.methods.registry import FuseFn

logger = logging.getLogger("semfuse.fuse")


@dataclass
class FuseSummary:
    """What a batch fusion did: files written, a message per pair that failed, and outputs that existed already
    (``skip_existing``)."""

    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in text or (
        "can't allocate memory" in text)  # CPU tensors: "DefaultCPUAllocator: can't allocate memory"


def out_of_memory_message(ir: np.ndarray, error: BaseException) -> str:
    """One line for a pair too large for the device's memory: its size and the options that help."""
    height, width = ir.shape[:2]
    size = f"the {width}x{height} image ({width * height:,} pixels)"
    skip = f"fuse it in tiles with --tile 1024 (semfuse network), or skip images this large with --max-pixels " \
        f"{width * height - 1}"
    if isinstance(error, torch.OutOfMemoryError) or "cuda" in str(error).lower():
        return f"{size} does not fit in the GPU's memory; fuse it with --device cpu (main memory), {skip}"
    return f"{size} does not fit in memory; free memory or downscale the pair, {skip}"


def stretch_range(image: np.ndarray) -> np.ndarray:
    """Min–max stretch of one image to [0, 1], all channels together; a constant image is returned as it is.

    What the authors' test code does to every fused image before saving it (the paper does not say so). It raises
    EN, SD, SF and AG without adding information, so semfuse does it only when asked (``semfuse fuse --stretch``).

    >>> stretch_range(np.array([[0.25, 0.5], [0.5, 0.75]], dtype=np.float32)).tolist()
    [[0.0, 0.5], [0.5, 1.0]]
    """
    low, high = float(image.min()), float(image.max())
    if not high > low:
        return image
    return ((image - low) / (high - low)).astype(image.dtype, copy=False)


def fuse_tensors(fuse: FuseFn, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Fuse a batch of pairs: the numeric core of :func:`fuse_arrays`, ``semfuse fuse`` and :class:`semfuse.Fuser`.

    The visible image's BT.601 luminance is fused with the infrared image; a colour visible image gets its Cb/Cr
    back (:func:`~semfuse.data.colour.restore_colour`). The colour work happens on ``vis``'s device.

    Args:
        fuse: a fusion method (:func:`semfuse.methods.get_method`).
        ir: (B, 1, H, W) float32 infrared luminance in [0, 1].
        vis: (B, 1, H, W) grey or (B, 3, H, W) RGB float32 visible image in [0, 1].

    Returns:
        (B, 1, H, W) or (B, 3, H, W), like ``vis``: float32 in [0, 1] on ``vis``'s device.

    Example:
        >>> from semfuse.methods import get_method
        >>> fuse_tensors(get_method("average"), torch.zeros(2, 1, 4, 4), torch.ones(2, 3, 4, 4)).shape
        torch.Size([2, 3, 4, 4])
    """
    with torch.inference_mode():
        vis_y = vis if vis.shape[1] == 1 else luminance(vis)  # (B, 1, H, W)
        fused_y = fuse(ir, vis_y).float().to(vis.device).clamp(0.0, 1.0)
        if fused_y.shape != ir.shape:
            raise RuntimeError(f"the fusion method returned shape {tuple(fused_y.shape)} for input {tuple(ir.shape)}")
        return fused_y if vis.shape[1] == 1 else restore_colour(fused_y, vis)


def fuse_arrays(fuse: FuseFn, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Fuse one pair of float [0, 1] arrays: ``ir`` (H, W), ``vis`` (H, W) or (H, W, 3) -> fused like ``vis``."""
    ir_t = torch.from_numpy(np.ascontiguousarray(ir, dtype=np.float32))[None, None]  # (1, 1, H, W)
    vis_t = torch.from_numpy(np.ascontiguousarray(vis, dtype=np.float32))
    vis_t = vis_t[None, None] if vis.ndim == 2 else vis_t.permute(2, 0, 1)[None]  # (1, 1|3, H, W)
    fused = fuse_tensors(fuse, ir_t, vis_t)[0]  # (1|3, H, W)
    return fused[0].numpy() if vis.ndim == 2 else fused.permute(1, 2, 0).numpy()


def output_path(out_dir: Path, name: str) -> Path:
    """Where the fused image of the pair ``name`` goes: ``out_dir/NAME.png``."""
    return out_dir / f"{name}.png"


def fuse_pairs(
    fuse: FuseFn,
    pairs: list[Pair],
    out_dir: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    skip_existing: bool = False,
    stretch: bool = False,
) -> FuseSummary:
    """Fuse every pair into ``out_dir/NAME.png``; a failing pair is logged and skipped, the rest go on.

    A pair too large for the device's memory fails with its size and the options that help. Ctrl-C (or SIGTERM)
    stops with a :class:`KeyboardInterrupt` whose message says how many pairs are done and left; every file
    written until then is complete.

    Args:
        skip_existing: leave pairs whose output exists (e.g. from an interrupted run, or written meanwhile by
            another process) as they are instead of refusing to start.
        stretch: min–max stretch every fused image (:func:`stretch_range`, the authors' choice; off by default).

    Raises:
        SemfuseError: before any work, if outputs exist and neither ``overwrite`` nor ``skip_existing`` is set;
            and when writing fails because of the disk (full, read-only, no permission): the batch stops there.
    """
    out_dir = Path(out_dir)
    if overwrite and skip_existing:
        raise SemfuseError("give --overwrite (redo every pair) or --skip-existing (keep finished pairs), not both")
    if skip_existing:
        done = {pair.name for pair in pairs if output_path(out_dir, pair.name).exists()}
        summary = FuseSummary(skipped=[output_path(out_dir, name) for name in sorted(done)])
        pairs = [pair for pair in pairs if pair.name not in done]
        if summary.skipped:
            logger.info("%d pair(s) already fused in %s, skipped", len(summary.skipped), out_dir)
    else:
        refuse_existing([output_path(out_dir, pair.name) for pair in pairs], overwrite)
        summary = FuseSummary()
    total = len(pairs) + len(summary.skipped)
    with summarise_interruption(lambda: len(summary.written) + len(summary.failed) + len(summary.skipped), total,
                                "pairs", "run again with --skip-existing to finish"):
        for pair in tqdm(pairs, desc="fusing", unit="pair", disable=not progress, dynamic_ncols=True):
            _fuse_one(fuse, pair, out_dir, overwrite, skip_existing, summary, total, stretch)
    return summary


def _fuse_one(fuse: FuseFn, pair: Pair, out_dir: Path, overwrite: bool, skip_existing: bool, summary: FuseSummary,
              total: int, stretch: bool = False) -> None:
    """Fuse and write one pair, recording the outcome in ``summary``; raises only for a disk problem."""
    loaded = None
    try:
        loaded = load_pair(pair)
        fused = fuse_arrays(fuse, loaded["ir"], loaded["vis"])
        if stretch:
            fused = stretch_range(fused)
        summary.written.append(write_image(output_path(out_dir, pair.name), fused, overwrite=overwrite))
    except OutputExistsError as error:
        if not skip_existing:
            _failed(summary, pair, error)
        else:
            summary.skipped.append(output_path(out_dir, pair.name))  # another process fused it meanwhile
    except OutputWriteError as error:
        if not error.stops_batch:
            _failed(summary, pair, error)
            return
        done = len(summary.written) + len(summary.skipped)
        raise SemfuseError(f"{error} (stopped after {done} of {total} pairs; run again with --skip-existing "
                           "to finish)") from None
    except (SemfuseError, OSError, RuntimeError, ValueError, MemoryError) as error:
        if loaded is not None and _is_out_of_memory(error):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            _failed(summary, pair, out_of_memory_message(loaded["ir"], error))
        else:
            _failed(summary, pair, error)


def _failed(summary: FuseSummary, pair: Pair, error: BaseException | str) -> None:
    message = f"{pair.name}: {error}"
    logger.error("failed, skipped: %s", message)
    summary.failed.append(message)
