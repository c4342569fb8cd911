"""Laplacian-pyramid fusion (Burt & Adelson 1983; fusion rule after Burt & Kolczynski 1993).

Pyramid: the 5-tap binomial kernel ``[1, 4, 6, 4, 1] / 16`` (Burt & Adelson's a = 0.375), reflect borders.

* ``reduce``: blur, keep every second row and column (size ceil(H / 2) x ceil(W / 2), so odd sizes work).
* ``expand`` to a given size: put the samples on the even positions of a zero image, blur with 4x the kernel.
* level k detail = G_k - expand(G_{k+1}); the base is the last G. Collapsing adds the levels back and
  reproduces the image exactly (to float rounding) for every size, because each detail is defined as a difference.

With reflect borders a constant image has exactly zero detail at every level. A side of one pixel cannot be
reduced further, so the number of levels is capped at the number of halvings that keep both sides >= 2 pixels.

Fusion (``laplacian``): detail levels by max-abs (ties averaged), base by averaging, then collapse.
"""

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from semfuse.errors import InputError
from semfuse.methods.classical.contract import (
    check_luminance_pair,
    check_positive_int,
    finish,
    working_copy,
)
from semfuse.methods.classical.filters import separable_filter
from semfuse.methods.classical.rules import choose_max_abs, choose_max_abs_consistent
from semfuse.methods.registry import FuseFn, register_method

BINOMIAL_KERNEL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64) / 16.0


def reduce_level(image: Tensor) -> Tensor:
    """Blur and subsample (B, 1, H, W) -> (B, 1, ceil(H / 2), ceil(W / 2))."""
    return separable_filter(image, BINOMIAL_KERNEL, "reflect")[..., ::2, ::2]


def expand_level(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Upsample (B, 1, h, w) to (B, 1, H, W) with h = ceil(H / 2), w = ceil(W / 2), H, W >= 2."""
    height, width = size
    if image.shape[-2] != (height + 1) // 2 or image.shape[-1] != (width + 1) // 2:
        raise InputError(f"expand_level cannot take {tuple(image.shape)} to {height}x{width}; it doubles each side")
    upsampled = image.new_zeros(image.shape[0], image.shape[1], height, width)
    upsampled[..., ::2, ::2] = image
    return separable_filter(upsampled, 2.0 * BINOMIAL_KERNEL, "reflect")


def usable_levels(height: int, width: int, levels: int) -> int:
    """``levels`` capped at the number of reductions possible while both sides are >= 2 pixels."""
    usable = 0
    while usable < levels and height >= 2 and width >= 2:
        height, width = (height + 1) // 2, (width + 1) // 2
        usable += 1
    return usable


def laplacian_pyramid(image: Tensor, levels: int) -> list[Tensor]:
    """Decompose (B, 1, H, W) into ``[detail_0, ..., detail_{L-1}, base]``, finest first.

    Args:
        image: (B, 1, H, W) float tensor.
        levels: requested number of detail levels L (capped by :func:`usable_levels`).

    Returns:
        L + 1 tensors: detail k has shape (B, 1, ceil(H / 2^k), ceil(W / 2^k)); the base is the next size down.
    """
    pyramid = []
    current = image
    for _ in range(usable_levels(image.shape[-2], image.shape[-1], levels)):
        smaller = reduce_level(current)
        pyramid.append(current - expand_level(smaller, (current.shape[-2], current.shape[-1])))
        current = smaller
    pyramid.append(current)
    return pyramid


def collapse_pyramid(pyramid: list[Tensor]) -> Tensor:
    """Inverse of :func:`laplacian_pyramid`: the image of the finest level's size."""
    image = pyramid[-1]
    for detail in reversed(pyramid[:-1]):
        image = detail + expand_level(image, (detail.shape[-2], detail.shape[-1]))
    return image


def laplacian_fuse(ir: Tensor, vis: Tensor, levels: int = 4, consistency_check: bool = False) -> Tensor:
    """Fuse with a Laplacian pyramid: max-abs on the detail levels, average on the base.

    Args:
        ir, vis: luminance tensors of one shape (B, 1, H, W) in [0, 1].
        levels: detail levels (default 4; fewer are used when a side would drop below 2 pixels).
        consistency_check: select details with :func:`choose_max_abs_consistent` (3x3) instead of per coefficient.

    Returns:
        Tensor (B, 1, H, W) in [0, 1], dtype of ``ir``.
    """
    check_luminance_pair(ir, vis, "laplacian")
    return pyramid_fuse(ir, vis, levels, consistency_check, lambda base_ir, base_vis: (base_ir + base_vis) / 2)


def pyramid_fuse(ir: Tensor, vis: Tensor, levels: int, consistency_check: bool,
                 fuse_base: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """The multi-scale skeleton shared by ``laplacian`` and ``mst-sr``: Laplacian pyramids of both sources, detail
    levels by max-abs (optionally with the 3x3 consistency check), the base by ``fuse_base(base_ir, base_vis)``
    (float64 tensors), then collapse. Inputs are checked by the caller; returns (B, 1, H, W) in [0, 1]."""
    select = choose_max_abs_consistent if consistency_check else choose_max_abs
    pyramid_ir = laplacian_pyramid(working_copy(ir), levels)
    pyramid_vis = laplacian_pyramid(working_copy(vis), levels)
    fused = [select(a, b) for a, b in zip(pyramid_ir[:-1], pyramid_vis[:-1])]
    fused.append(fuse_base(pyramid_ir[-1], pyramid_vis[-1]))
    return finish(collapse_pyramid(fused), ir)


@register_method(
    "laplacian",
    "Laplacian pyramid, max-abs details, averaged base",
    "Burt & Adelson, IEEE Trans. Communications 1983; Burt & Kolczynski, ICCV 1993",
)
def laplacian_method(levels: int = 4, consistency_check: bool = False) -> FuseFn:
    """Factory of :func:`laplacian_fuse` with its options bound."""
    check_positive_int(levels, "levels", "laplacian")
    return partial(laplacian_fuse, levels=levels, consistency_check=bool(consistency_check))
