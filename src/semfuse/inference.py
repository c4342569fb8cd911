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
from semfuse.files import refuse_existing
from semfuse.methods.registry import FuseFn

logger = logging.getLogger("semfuse.fuse")


@dataclass
class FuseSummary:
    """What a batch fusion did: files written, and a message per pair that failed."""

    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def fuse_arrays(fuse: FuseFn, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Fuse one pair of float [0, 1] arrays: ``ir`` (H, W), ``vis`` (H, W) or (H, W, 3) -> fused like ``vis``."""
    ir_t = torch.from_numpy(np.ascontiguousarray(ir, dtype=np.float32))[None, None]  # (1, 1, H, W)
    if vis.ndim == 2:
        vis_rgb, vis_y = None, torch.from_numpy(np.ascontiguousarray(vis, dtype=np.float32))[None, None]
    else:
        vis_rgb = torch.from_numpy(np.ascontiguousarray(vis, dtype=np.float32)).permute(2, 0, 1)[None]  # (1, 3, H, W)
        vis_y = luminance(vis_rgb)
    with torch.inference_mode():
        fused_y = fuse(ir_t, vis_y).float().cpu().clamp(0.0, 1.0)
        if fused_y.shape != ir_t.shape:
            raise RuntimeError(f"the fusion method returned shape {tuple(fused_y.shape)} for input {tuple(ir_t.shape)}")
        if vis_rgb is None:
            return fused_y[0, 0].numpy()
        return restore_colour(fused_y, vis_rgb)[0].permute(1, 2, 0).numpy()


def output_path(out_dir: Path, name: str) -> Path:
    """Where the fused image of the pair ``name`` goes: ``out_dir/NAME.png``."""
    return out_dir / f"{name}.png"


def fuse_pairs(
    fuse: FuseFn, pairs: list[Pair], out_dir: str | Path, overwrite: bool = False, progress: bool = True
) -> FuseSummary:
    """Fuse every pair into ``out_dir/NAME.png``; a failing pair is logged and skipped, the rest go on.

    Raises:
        SemfuseError: before any work, if outputs exist and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    refuse_existing([output_path(out_dir, pair.name) for pair in pairs], overwrite)
    summary = FuseSummary()
    for pair in tqdm(pairs, desc="fusing", unit="pair", disable=not progress, dynamic_ncols=True):
        try:
            loaded = load_pair(pair)
            fused = fuse_arrays(fuse, loaded["ir"], loaded["vis"])
            summary.written.append(write_image(output_path(out_dir, pair.name), fused, overwrite=overwrite))
        except (SemfuseError, OSError, RuntimeError, ValueError) as error:
            message = f"{pair.name}: {error}"
            logger.error("failed, skipped: %s", message)
            summary.failed.append(message)
    return summary
