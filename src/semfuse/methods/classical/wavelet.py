"""Discrete-wavelet-transform fusion (Li, Manjunath & Mitra 1995), with PyWavelets.

Both luminances are decomposed with ``pywt.wavedec2`` (default ``db2``, 3 levels, ``symmetric`` extension); the
approximation band is averaged, each detail band (horizontal, vertical, diagonal at every level) is fused by
choose-max-abs (ties averaged), and ``pywt.waverec2`` reconstructs. The reconstruction of an odd side is one
sample longer; it is cropped back, so the output has the exact input size.

The level is capped at ``pywt.dwt_max_level`` so that small images are not decomposed into bands that are pure
border extension; an image too small for a single useful level (shorter side below the filter length - 1, e.g.
< 3 pixels for db2) is fused by averaging, which is what the approximation rule gives at level 0.

Li et al. select by an area-based activity with consistency verification; the default here is the plain
per-coefficient max-abs rule, ``consistency_check=True`` gives the 3x3 variant.
"""

from functools import partial

import numpy as np
import pywt
import torch
from torch import Tensor

from semfuse.errors import InputError
from semfuse.methods.classical.contract import (
    check_luminance_pair,
    check_positive_int,
    finish,
)
from semfuse.methods.classical.rules import choose_max_abs, choose_max_abs_consistent
from semfuse.methods.registry import FuseFn, register_method


def wavelet_levels(height: int, width: int, wavelet: str, levels: int) -> int:
    """``levels`` capped at PyWavelets' useful maximum for the shorter side; 0 if even one level is not useful."""
    return min(levels, pywt.dwt_max_level(min(height, width), pywt.Wavelet(wavelet).dec_len))


def dwt_fuse(
    ir: Tensor,
    vis: Tensor,
    wavelet: str = "db2",
    levels: int = 3,
    mode: str = "symmetric",
    consistency_check: bool = False,
) -> Tensor:
    """Fuse in the wavelet domain: average the approximation, choose-max-abs the details.

    Args:
        ir, vis: luminance tensors of one shape (B, 1, H, W) in [0, 1].
        wavelet: a discrete wavelet of PyWavelets (``pywt.wavelist(kind="discrete")``), e.g. ``db2``, ``haar``.
        levels: decomposition levels (default 3; capped, see :func:`wavelet_levels`).
        mode: PyWavelets signal extension mode.
        consistency_check: select details with the 3x3 consistency-verified rule.

    Returns:
        Tensor (B, 1, H, W) in [0, 1], dtype and device of ``ir`` (the transform runs on the CPU).
    """
    check_luminance_pair(ir, vis, "dwt")
    height, width = ir.shape[-2:]
    level = wavelet_levels(height, width, wavelet, levels)
    if level == 0:
        return finish((ir.to(torch.float64) + vis.to(torch.float64)) / 2, ir)
    select = choose_max_abs_consistent if consistency_check else choose_max_abs
    arrays = [image.detach().to("cpu", torch.float64).numpy() for image in (ir, vis)]
    coeffs_ir, coeffs_vis = (pywt.wavedec2(a, wavelet, mode=mode, level=level, axes=(-2, -1)) for a in arrays)
    fused = [(coeffs_ir[0] + coeffs_vis[0]) / 2]
    for bands_ir, bands_vis in zip(coeffs_ir[1:], coeffs_vis[1:]):
        fused.append(
            tuple(select(torch.from_numpy(a), torch.from_numpy(b)).numpy() for a, b in zip(bands_ir, bands_vis))
        )
    image = pywt.waverec2(fused, wavelet, mode=mode, axes=(-2, -1))[..., :height, :width]  # (B, 1, H, W)
    return finish(torch.from_numpy(np.ascontiguousarray(image)).to(ir.device), ir)


@register_method(
    "dwt",
    "discrete wavelet transform, max-abs details, averaged approximation",
    "Li, Manjunath & Mitra, Graphical Models and Image Processing 57(3), 1995",
)
def dwt_method(
    wavelet: str = "db2", levels: int = 3, mode: str = "symmetric", consistency_check: bool = False
) -> FuseFn:
    """Factory of :func:`dwt_fuse` with its options bound (checked here, once)."""
    if wavelet not in pywt.wavelist(kind="discrete"):
        raise InputError(f"dwt: unknown wavelet {wavelet!r}; choose a discrete one, e.g. db2, haar, sym4, bior2.2")
    if mode not in pywt.Modes.modes:
        raise InputError(f"dwt: unknown extension mode {mode!r}; choose one of: {', '.join(pywt.Modes.modes)}")
    check_positive_int(levels, "levels", "dwt")
    return partial(dwt_fuse, wavelet=wavelet, levels=levels, mode=mode, consistency_check=bool(consistency_check))
