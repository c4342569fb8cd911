"""Gaussian windows and 'valid' filtering shared by the windowed metrics (VIF, SSIM, MEF-SSIM).

Every filter here is MATLAB's ``filter2(window, x, 'valid')``: a correlation without padding, so an (H, W) image
and a (k, k) window give an (H - k + 1, W - k + 1) result. The Gaussian windows of the reference code are
separable, so they are applied as one pass down the columns and one along the rows, each a series of small
products with a band matrix that holds the kernel (:func:`correlate_valid`): on a CPU in float64 this is several
times faster than ``conv2d``, than k shifted multiply-adds over the whole image, and than the FFT for these window
sizes. Box sums use the same products with a kernel of ones, which is exact for integer data.
"""

import math

import torch
from torch import Tensor

from semfuse.errors import InputError

_EPS = torch.finfo(torch.float64).eps
# Outputs per matrix product along each dim: small blocks keep the band matrix's zeros (wasted work) few and the
# operands in cache; measured on a 2-core Xeon in float64 (benchmarks/metrics_panel.py).
_BLOCK = {-2: 16, -1: 48}
# Values per plane in one strip of :func:`row_strips`: a chain of elementwise operations over strips this size
# keeps its operands in a CPU core's cache.
STRIP_ELEMENTS = 1 << 14


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
        raise InputError(f"a {size}x{size} Gaussian window with sigma {sigma} is not separable after fspecial's cut")
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


def _band_matrix(kernel: Tensor, outputs: int, stride: int) -> Tensor:
    """(outputs, (outputs - 1) * stride + k) matrix whose row r holds the kernel from column r * stride."""
    size = kernel.numel()
    band = kernel.new_zeros(outputs, (outputs - 1) * stride + size)
    rows = torch.arange(outputs, device=kernel.device)[:, None]
    columns = rows * stride + torch.arange(size, device=kernel.device)  # (outputs, k)
    band[rows, columns] = kernel
    return band


def correlate_valid(images: Tensor, kernel: Tensor, dim: int, stride: int = 1) -> Tensor:
    """Correlate along ``dim`` (-1 or -2) with a 1-D kernel, valid positions only, keeping every ``stride``-th.

    out[..., i, ...] = sum_u kernel[u] images[..., i * stride + u, ...]

    The work is a series of small matrix products: each block of outputs is a band matrix holding the kernel
    times the block of inputs it reads. On a CPU in float64 the BLAS products run several times faster than
    k shifted multiply-adds over the whole image (they stay in cache), and a stride skips the unused outputs.

    Args:
        images: float tensor of shape (..., H, W), at least k long along ``dim``.
        kernel: 1-D tensor of shape (k,), same dtype and device.
        dim: -2 (along the columns, down the rows) or -1 (along the rows).
        stride: keep every ``stride``-th output (1 = all).

    Returns:
        Tensor with (length - k) // stride + 1 entries along ``dim``.

    Example:
        >>> correlate_valid(torch.arange(6.0).reshape(1, 6), torch.tensor([1.0, 1.0]), dim=-1, stride=2)
        tensor([[1., 5., 9.]])
    """
    if dim not in (-1, -2):
        raise InputError(f"correlate_valid filters along dim -1 or -2, got {dim}")
    size, length = kernel.numel(), images.shape[dim]
    outputs = (length - size) // stride + 1
    block = min(_BLOCK[dim], outputs)
    band = _band_matrix(kernel, block, stride)  # (block, inputs per block)
    shape = list(images.shape)
    shape[dim] = outputs
    out = images.new_empty(shape)
    for start in range(0, outputs, block):
        count = min(block, outputs - start)
        rows = band if count == block else band[:count, : (count - 1) * stride + size]
        source = images.narrow(dim, start * stride, rows.shape[1])
        if dim == -2:
            torch.matmul(rows, source, out=out.narrow(dim, start, count))  # (count, n) @ (..., n, W)
        else:
            torch.matmul(source, rows.T, out=out.narrow(dim, start, count))  # (..., H, n) @ (n, count)
    return out


def separable_filter_valid(images: Tensor, kernel: Tensor, stride: int = 1) -> Tensor:
    """Correlate every (H, W) plane with the window outer(kernel, kernel), valid positions only.

    out[..., i, j] = sum_{u, v} kernel[u] kernel[v] images[..., i * stride + u, j * stride + v]

    A pass down the columns, then one along the rows (:func:`correlate_valid`). ``stride`` = 2 is MATLAB's
    ``filter2(w, x, 'valid')`` followed by ``(1:2:end, 1:2:end)``, without computing the dropped outputs.

    Args:
        images: float64 tensor of shape (..., H, W) with H, W >= k.
        kernel: 1-D tensor of shape (k,).
        stride: keep every ``stride``-th row and column of the result.

    Returns:
        Tensor of shape (..., (H - k) // stride + 1, (W - k) // stride + 1).

    Example:
        >>> separable_filter_valid(torch.ones(1, 1, 5, 5, dtype=torch.float64), gaussian_kernel_1d(3, 0.6)).shape
        torch.Size([1, 1, 3, 3])
    """
    return correlate_valid(correlate_valid(images, kernel, dim=-2, stride=stride), kernel, dim=-1, stride=stride)


def box_sum_valid(images: Tensor, size: int) -> Tensor:
    """Sum of every size x size patch (valid positions): exact for integer data.

    The window of ones is separable like the Gaussians (:func:`separable_filter_valid`). Every product is a value
    times 1 and every partial sum of integers (or of the dyadic fractions that 2x2 mean pooling makes) below 2^53
    is representable, so the sums are exact whatever order the matrix products add them in.

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
    return separable_filter_valid(images, torch.ones(size, dtype=images.dtype, device=images.device))


def row_strips(maps: Tensor, elements: int = STRIP_ELEMENTS) -> list[slice]:
    """Slices of rows that split (..., h, w) maps into strips of about ``elements`` values per plane on a CPU.

    The per-pixel formulas of the metrics are chains of elementwise operations; over whole 640x480 maps each
    operation streams its operands through main memory, over strips they stay in cache, several times faster.
    Elsewhere (a GPU) a single strip: there one launch per operation over the whole map is fastest.

    Example:
        >>> row_strips(torch.zeros(1, 1, 5, 4), elements=8)
        [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    height, width = maps.shape[-2:]
    rows = height if maps.device.type != "cpu" else max(1, elements // max(width, 1))
    return [slice(start, min(start + rows, height)) for start in range(0, height, rows)]


def moment_stack(reference: Tensor, distorted: Tensor) -> Tensor:
    """(B, 3K + 2, H, W): reference (K), distorted, reference^2 (K), distorted^2, reference * distorted (K), the
    planes whose local means give the moments of SSIM and VIF, filtered in one call."""
    k = reference.shape[1]
    stack = reference.new_empty(reference.shape[0], 3 * k + 2, *reference.shape[2:])
    stack[:, :k] = reference
    stack[:, k : k + 1] = distorted
    torch.square(reference, out=stack[:, k + 1 : 2 * k + 1])
    torch.square(distorted, out=stack[:, 2 * k + 1 : 2 * k + 2])
    torch.mul(reference, distorted, out=stack[:, 2 * k + 2 :])
    return stack
