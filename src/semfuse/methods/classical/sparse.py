"""MST-SR: multi-scale transform + sparse representation fusion (Liu, Liu & Wang, Information Fusion 24, 2015).

The general framework with the Laplacian pyramid as the transform ("LP-SR"):

1. Decompose both luminances into a Laplacian pyramid (default 4 levels, :mod:`.pyramid`).
2. Low-pass band by sparse representation: take every 8x8 window (step 1 by default), remove its mean,
   sparse-code it over the learned dictionary D (64 x 256) by OMP until ``||v - D a||_2 <= epsilon``; per window
   keep the coefficients with the larger L1 norm ("max-L1") together with that source's mean; rebuild the window
   as ``D a + mean`` and average the overlapping windows.
3. High-pass bands by max-abs with 3x3 consistency verification (the paper's choice, Li et al. 1995).
4. Collapse the pyramid.

Parameters as in the paper: epsilon = 0.1 with intensities in [0, 255] (the authors' code works on 0-255 values),
so the tolerance on our [0, 1] values is 0.1 / 255. Deviations, all documented in docs/methods.md: the dictionary
is semfuse's own (K-SVD on RoadScene + MSRS patches, not the authors' natural-image one); where both windows have
an equal L1 norm (both zero on flat windows) the two rebuilt windows are averaged (the authors' code keeps the
first source); the last window of each axis is placed at the band's far edge so every pixel is covered; a low-pass
band smaller than 8x8 is averaged.
"""

from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.methods.classical.contract import (
    check_luminance_pair,
    check_positive_float,
    check_positive_int,
)
from semfuse.methods.classical.dictionary import PATCH_SIDE, load_dictionary
from semfuse.methods.classical.omp import orthogonal_matching_pursuit
from semfuse.methods.classical.patches import assemble_patches, extract_patches
from semfuse.methods.classical.pyramid import pyramid_fuse
from semfuse.methods.registry import FuseFn, register_method

PAPER_EPSILON_255 = 0.1


def sparse_fuse_lowpass(
    a: Tensor, b: Tensor, dictionary: Tensor, step: int = 1, tolerance: float = PAPER_EPSILON_255 / 255
) -> Tensor:
    """Fuse two low-pass bands window by window with the max-L1 rule on their sparse codes.

    Args:
        a, b: bands of one shape (B, 1, h, w), float64.
        dictionary: (64, K) unit-norm atoms for mean-removed 8x8 windows.
        step: distance between window starts.
        tolerance: OMP stops once a window's residual L2 norm is at most this (same units as the bands).

    Returns:
        Fused band (B, 1, h, w); the plain average where h or w is below 8.
    """
    check_tensors("sparse_fuse_lowpass", {"a": a, "b": b})
    height, width = a.shape[-2:]
    if height < PATCH_SIDE or width < PATCH_SIDE:
        return (a + b) / 2
    windows = torch.stack([extract_patches(a, PATCH_SIDE, step), extract_patches(b, PATCH_SIDE, step)])  # (2, B, L, 64)
    means = windows.mean(dim=3, keepdim=True)
    centred = windows - means
    codes = orthogonal_matching_pursuit(
        centred.reshape(-1, PATCH_SIDE * PATCH_SIDE), dictionary, max_atoms=PATCH_SIDE * PATCH_SIDE, tolerance=tolerance
    )
    rebuilt = centred - codes.residual.view_as(centred) + means  # D a + mean, (2, B, L, 64)
    l1 = codes.l1_norms().view(centred.shape[:3]).unsqueeze(3)  # (2, B, L, 1)
    fused = torch.where(
        l1[0] > l1[1], rebuilt[0], torch.where(l1[1] > l1[0], rebuilt[1], (rebuilt[0] + rebuilt[1]) / 2)
    )
    return assemble_patches(fused, (height, width), PATCH_SIDE, step)


def mst_sr_fuse(
    ir: Tensor,
    vis: Tensor,
    dictionary: Tensor,
    levels: int = 4,
    step: int = 1,
    epsilon: float = PAPER_EPSILON_255,
    consistency_check: bool = True,
) -> Tensor:
    """LP-SR fusion of two luminances (Liu, Liu & Wang 2015).

    Args:
        ir, vis: luminance tensors of one shape (B, 1, H, W) in [0, 1].
        dictionary: (64, K) unit-norm atoms, see :func:`~semfuse.methods.classical.dictionary.load_dictionary`.
        levels: Laplacian pyramid levels (paper's code: 4).
        step: step between 8x8 windows of the low-pass band (paper: 1; the authors' code: 2, "overlap 6").
        epsilon: OMP error tolerance on the 0-255 intensity scale (paper: 0.1).
        consistency_check: 3x3 consistency verification of the high-pass max-abs selection (paper: yes).

    Returns:
        Tensor (B, 1, H, W) in [0, 1], dtype of ``ir``.
    """
    check_luminance_pair(ir, vis, "mst-sr")
    atoms = dictionary.to(device=ir.device, dtype=torch.float64)
    return pyramid_fuse(ir, vis, levels, consistency_check,
                        lambda base_ir, base_vis: sparse_fuse_lowpass(base_ir, base_vis, atoms, step, epsilon / 255.0))


@register_method(
    "mst-sr",
    "Laplacian pyramid + sparse representation (K-SVD dictionary, OMP, max-L1) of the low-pass band",
    "Liu, Liu & Wang, Information Fusion 24:147-164, 2015",
)
def mst_sr_method(
    levels: int = 4,
    step: int = 1,
    epsilon: float = PAPER_EPSILON_255,
    consistency_check: bool = True,
    dictionary: str | Path | np.ndarray | Tensor | None = None,
) -> FuseFn:
    """Factory of :func:`mst_sr_fuse`; loads the dictionary once (``None``: the one shipped with semfuse)."""
    check_positive_int(levels, "levels", "mst-sr")
    check_positive_int(step, "step", "mst-sr")
    check_positive_float(epsilon, "epsilon", "mst-sr")
    return partial(
        mst_sr_fuse,
        dictionary=load_dictionary(dictionary),
        levels=levels,
        step=step,
        epsilon=float(epsilon),
        consistency_check=bool(consistency_check),
    )
