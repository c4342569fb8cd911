"""Linear filters on (B, 1, H, W) tensors that work for every size, from 1x1 up.

Borders:

* ``reflect``: mirror about the edge sample (``c b | a b c | b a``), the extension the Laplacian pyramid needs so
  that a constant image has exactly zero detail. The index is folded as often as needed, so a filter wider than
  the image is fine.
* ``replicate``: repeat the edge sample.
* mean filters can also ``truncate``: average only the pixels inside the image (He et al.'s box filter).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError

BORDERS = ("reflect", "replicate")


def border_index(size: int, pad: int, border: str, device: torch.device | None = None) -> Tensor:
    """Source indices of an axis of length ``size`` extended by ``pad`` samples on each side.

    Args:
        size: length of the axis, >= 1.
        pad: samples added before and after, >= 0.
        border: ``reflect`` or ``replicate``.

    Returns:
        Long tensor of shape (size + 2 * pad,) indexing the original axis.
    """
    positions = torch.arange(-pad, size + pad, device=device)
    if border == "replicate" or size == 1:
        return positions.clamp(0, size - 1)
    if border != "reflect":
        raise InputError(f"unknown border {border!r}; choose one of: {', '.join(BORDERS)}")
    period = 2 * (size - 1)
    folded = positions.remainder(period)
    return torch.where(folded < size, folded, period - folded)


def pad2d(image: Tensor, pad_h: int, pad_w: int, border: str) -> Tensor:
    """Extend (B, C, H, W) by ``pad_h`` rows and ``pad_w`` columns on each side with the given border rule."""
    rows = border_index(image.shape[-2], pad_h, border, image.device)
    cols = border_index(image.shape[-1], pad_w, border, image.device)
    return image.index_select(-2, rows).index_select(-1, cols)


def separable_filter(image: Tensor, kernel: Tensor, border: str) -> Tensor:
    """Filter (B, 1, H, W) with ``kernel`` (odd length K) along rows and then columns; output (B, 1, H, W)."""
    check_tensors("separable_filter", {"image": image})
    radius = kernel.numel() // 2
    kernel = kernel.to(image.device, image.dtype)
    padded = pad2d(image, radius, radius, border)
    filtered = F.conv2d(padded, kernel.view(1, 1, 1, -1))  # (B, 1, H + 2r, W)
    return F.conv2d(filtered, kernel.view(1, 1, -1, 1))  # (B, 1, H, W)


def gaussian_kernel(radius: int, sigma: float) -> Tensor:
    """Normalised 1-D Gaussian of length 2r + 1 (float64); its outer product is MATLAB's ``fspecial('gaussian')``."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return kernel / kernel.sum()


def laplacian_filter(image: Tensor, border: str = "replicate") -> Tensor:
    """The 4-neighbour Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` of (B, 1, H, W); output (B, 1, H, W)."""
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=image.dtype, device=image.device)
    return F.conv2d(pad2d(image, 1, 1, border), kernel.view(1, 1, 3, 3))


def _window_sums(image: Tensor, radius: int, dim: int) -> Tensor:
    """Sums over windows of 2 * radius + 1 samples along ``dim``, truncated at the ends, by cumulative sums."""
    size = image.shape[dim]
    zero = torch.zeros_like(image.narrow(dim, 0, 1))
    cumulative = torch.cat([zero, image.cumsum(dim)], dim)  # length size + 1 along dim
    index = torch.arange(size, device=image.device)
    upper = (index + radius + 1).clamp(max=size)
    lower = (index - radius).clamp(min=0)
    return cumulative.index_select(dim, upper) - cumulative.index_select(dim, lower)


def mean_filter(image: Tensor, radius: int, border: str = "truncate") -> Tensor:
    """Mean over the (2r + 1) x (2r + 1) window around each pixel, in O(1) per pixel for any radius.

    Args:
        image: (B, C, H, W) float tensor (float64 advised: the cumulative sums lose digits in float32).
        radius: window radius r >= 0.
        border: ``truncate`` (average the pixels inside the image, He et al.'s box filter),
            ``replicate`` or ``reflect`` (extend the image first).

    Returns:
        Tensor of the shape of ``image``.
    """
    if radius < 0:
        raise InputError(f"mean_filter needs radius >= 0, got {radius}")
    if border == "truncate":
        counts_h = _window_sums(torch.ones(image.shape[-2], 1, dtype=image.dtype, device=image.device), radius, 0)
        counts_w = _window_sums(torch.ones(1, image.shape[-1], dtype=image.dtype, device=image.device), radius, 1)
        sums = _window_sums(_window_sums(image, radius, -2), radius, -1)
        return sums / (counts_h * counts_w)
    padded = pad2d(image, radius, radius, border)
    sums = _window_sums(_window_sums(padded, radius, -2), radius, -1)
    side = 2 * radius + 1
    return sums[..., radius : radius + image.shape[-2], radius : radius + image.shape[-1]] / float(side * side)
