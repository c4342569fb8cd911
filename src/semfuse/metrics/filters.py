"""Gaussian windows and 'valid' filtering shared by the windowed metrics (VIF, SSIM, MEF-SSIM).

Every filter here is MATLAB's ``filter2(window, x, 'valid')``: a correlation without padding, so an (H, W) image
and a (k, k) window give an (H - k + 1, W - k + 1) result. The Gaussian windows of the reference code are
separable, so they are applied as one pass along the rows and one along the columns, each a weighted sum of
shifted views (k in-place multiply-adds): on a CPU in float64 this is several times faster than ``conv2d`` and
faster than the FFT for these window sizes. Box sums use an integral image, which is exact for integer data.
"""

import math

import torch
from torch import Tensor

_EPS = torch.finfo(torch.float64).eps


def gaussian_kernel_1d(size: int, sigma: float, device: torch.device | str | None = None) -> Tensor:
    """The 1-D factor k of MATLAB ``fspecial('gaussian', size, sigma)``, which equals the outer product k k^T.

    k(x) = exp(-x^2 / (2 sigma^2)) on the centred grid x = -(size-1)/2 .. (size-1)/2, normalised to sum 1.
    ``fspecial`` also zeroes the entries of the 2-D window below eps * max; that would break the factorisation, so
    such windows are refused (none of the windows of the fusion metrics comes near: their corner is >= 1e-5 * max).

    Args:
        size: side of the window.
        sigma: standard deviation in pixels.
        device: where to build it.

    Returns:
        Tensor of shape (size,), float64, summing to 1.

    Example:
        >>> gaussian_kernel_1d(3, 0.6)
        tensor([0.1664, 0.6672, 0.1664], dtype=torch.float64)
    """
    half = (size - 1) / 2
    if math.exp(-2 * half**2 / (2 * sigma**2)) < _EPS:
        raise ValueError(f"a {size}x{size} Gaussian window with sigma {sigma} is not separable after fspecial's cut")
    coords = torch.arange(size, dtype=torch.float64, device=device) - half
    kernel = torch.exp(-coords.square() / (2 * sigma**2))
    return kernel / kernel.sum()


def gaussian_window(size: int, sigma: float, device: torch.device | str | None = None) -> Tensor:
    """MATLAB ``fspecial('gaussian', size, sigma)`` as a (size, size) float64 tensor summing to 1.

    Example:
        >>> gaussian_window(11, 1.5).shape
        torch.Size([11, 11])
    """
    kernel = gaussian_kernel_1d(size, sigma, device)
    return torch.outer(kernel, kernel)


def _correlate_valid(images: Tensor, kernel: Tensor, dim: int) -> Tensor:
    length = images.shape[dim] - kernel.numel() + 1
    weights = kernel.tolist()
    out = images.narrow(dim, 0, length) * weights[0]
    for shift, weight in enumerate(weights[1:], start=1):
        out.add_(images.narrow(dim, shift, length), alpha=weight)
    return out


def separable_filter_valid(images: Tensor, kernel: Tensor) -> Tensor:
    """Correlate every (H, W) plane with the window outer(kernel, kernel), valid positions only.

    out[..., i, j] = sum_{u, v} kernel[u] kernel[v] images[..., i + u, j + v]

    Args:
        images: float64 tensor of shape (..., H, W) with H, W >= k.
        kernel: 1-D tensor of shape (k,).

    Returns:
        Tensor of shape (..., H - k + 1, W - k + 1).

    Example:
        >>> separable_filter_valid(torch.ones(1, 1, 5, 5, dtype=torch.float64), gaussian_kernel_1d(3, 0.6)).shape
        torch.Size([1, 1, 3, 3])
    """
    return _correlate_valid(_correlate_valid(images, kernel, dim=-1), kernel, dim=-2)


def box_sum_valid(images: Tensor, size: int) -> Tensor:
    """Sum of every size x size patch (valid positions), from an integral image: exact for integer data.

    Args:
        images: float64 tensor of shape (..., H, W) with H, W >= size.
        size: side of the square box.

    Returns:
        Tensor of shape (..., H - size + 1, W - size + 1).

    Example:
        >>> box_sum_valid(torch.ones(1, 1, 4, 4, dtype=torch.float64), 3)
        tensor([[[[9., 9.],
                  [9., 9.]]]], dtype=torch.float64)
    """
    integral = torch.nn.functional.pad(images.cumsum(-1).cumsum(-2), (1, 0, 1, 0))  # (..., H + 1, W + 1)
    return (
        integral[..., size:, size:]
        - integral[..., :-size, size:]
        - integral[..., size:, :-size]
        + integral[..., :-size, :-size]
    )
