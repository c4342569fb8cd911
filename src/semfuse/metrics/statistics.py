"""Metrics of the fused image alone: entropy (EN), standard deviation (SD), spatial frequency (SF) and average
gradient (AG).

All take the fused image on the 0-255 scale, shape (B, 1, H, W), and return one float64 value per image, shape (B,).
Definitions follow the MATLAB code fusion papers use (see docs/metrics.md); higher is better for all four.
"""

import math

import torch
from torch import Tensor

from semfuse.metrics._checks import as_float64, check_grey_images, grey_levels
from semfuse.metrics.compiled import per_image, statistics_kernels, use_compiled


def shannon_entropy(counts: Tensor) -> Tensor:
    """Entropy in bits of histograms: H = -sum_{p_k > 0} p_k log2 p_k with p = counts / counts.sum().

    Args:
        counts: tensor of shape (B, K) with non-negative counts.

    Returns:
        Tensor of shape (B,), float64.
    """
    counts = counts.to(torch.float64)
    p = counts / counts.sum(dim=-1, keepdim=True)
    return -torch.special.xlogy(p, p).sum(dim=-1) / math.log(2)


def grey_histogram(image: Tensor) -> Tensor:
    """Counts of the 256 grey levels of each image.

    Args:
        image: tensor of shape (B, 1, H, W) on the 0-255 scale (rounded to integer levels).

    Returns:
        Tensor of shape (B, 256), int64.
    """
    return level_histogram(grey_levels(image))


def level_histogram(levels: Tensor) -> Tensor:
    """Counts of the 256 grey levels of (B, ...) int64 levels 0..255 (as :func:`grey_levels` gives them): (B, 256)."""
    levels = levels.flatten(1)  # (B, H*W)
    offsets = 256 * torch.arange(levels.shape[0], device=levels.device)[:, None]
    return torch.bincount((levels + offsets).flatten(), minlength=256 * levels.shape[0]).view(-1, 256)


def entropy(fused: Tensor) -> Tensor:
    r"""Entropy (EN) of the grey-level histogram, in bits (MATLAB ``entropy`` of the uint8 image).

    EN = -\sum_{k: p_k > 0} p_k \log_2 p_k, with p_k the fraction of pixels at grey level k = 0..255.
    Non-integer inputs are rounded to the nearest level, as saving them as uint8 would.

    Args:
        fused: tensor of shape (B, 1, H, W), values on the 0-255 scale.

    Returns:
        Tensor of shape (B,), float64, in [0, 8].

    Example:
        >>> entropy(torch.tensor([[[[0, 0], [255, 255]]]]))  # two equally frequent levels: 1 bit
        tensor([1.], dtype=torch.float64)
    """
    check_grey_images("entropy", fused=fused)
    return shannon_entropy(grey_histogram(fused))


def standard_deviation(fused: Tensor) -> Tensor:
    r"""Standard deviation (SD) of the pixel values, population form (``SD_evaluation.m``).

    SD = \sqrt{ mean( (f - mean(f))^2 ) } over all M N pixels, on the 0-255 scale.

    Args:
        fused: tensor of shape (B, 1, H, W), values on the 0-255 scale.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> standard_deviation(torch.tensor([[[[0.0, 2.0]]]]))
        tensor([1.], dtype=torch.float64)
    """
    check_grey_images("standard_deviation", fused=fused)
    f = as_float64(fused).flatten(1)
    return (f - f.mean(dim=1, keepdim=True)).square().mean(dim=1).sqrt()


def spatial_frequency(fused: Tensor) -> Tensor:
    r"""Spatial frequency (SF, ``SF_evaluation.m``).

    RF^2 = mean over the (M-1) x N vertical differences of (f[i+1, j] - f[i, j])^2,
    CF^2 = mean over the M x (N-1) horizontal differences of (f[i, j+1] - f[i, j])^2,
    SF = \sqrt{RF^2 + CF^2}, on the 0-255 scale.

    Args:
        fused: tensor of shape (B, 1, H, W) with H, W >= 2, values on the 0-255 scale.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> spatial_frequency(torch.tensor([[[[0.0, 3.0], [0.0, 3.0]]]]))  # RF = 0, CF = 3
        tensor([3.], dtype=torch.float64)
    """
    check_grey_images("spatial_frequency", min_size=2, fused=fused)
    f = as_float64(fused)
    row_frequency = (f[..., 1:, :] - f[..., :-1, :]).square().mean(dim=(1, 2, 3))
    column_frequency = (f[..., :, 1:] - f[..., :, :-1]).square().mean(dim=(1, 2, 3))
    return (row_frequency + column_frequency).sqrt()


def matlab_gradient(image: Tensor, dim: int) -> Tensor:
    """MATLAB ``gradient`` along ``dim``: central differences inside, one-sided differences at both ends.

    Args:
        image: float tensor with at least 2 entries along ``dim``.
        dim: the axis to differentiate along.

    Returns:
        Tensor of the same shape.
    """
    size = image.shape[dim]
    first = image.narrow(dim, 1, 1) - image.narrow(dim, 0, 1)
    last = image.narrow(dim, size - 1, 1) - image.narrow(dim, size - 2, 1)
    inner = (image.narrow(dim, 2, size - 2) - image.narrow(dim, 0, size - 2)) / 2
    return torch.cat([first, inner, last], dim=dim)


def average_gradient(fused: Tensor) -> Tensor:
    r"""Average gradient (AG, ``AG_evaluation.m``).

    With g_x, g_y from MATLAB ``gradient`` (central inside, one-sided on the border),
    AG = \sum_{all M N pixels} \sqrt{(g_x^2 + g_y^2) / 2} / ((M - 1)(N - 1)).
    The sum covers the border pixels while the divisor is (M-1)(N-1), as the reference code does.

    Args:
        fused: tensor of shape (B, 1, H, W) with H, W >= 2, values on the 0-255 scale.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> average_gradient(torch.tensor([[[[0.0, 2.0], [0.0, 2.0]]]]))  # 4 * sqrt(4/2) / 1
        tensor([5.6569], dtype=torch.float64)
    """
    check_grey_images("average_gradient", min_size=2, fused=fused)
    if use_compiled(fused):
        return per_image(statistics_kernels().average_gradient, fused)
    f = as_float64(fused)
    gx, gy = matlab_gradient(f, dim=-1), matlab_gradient(f, dim=-2)
    height, width = f.shape[-2:]
    return ((gx.square() + gy.square()) / 2).sqrt().sum(dim=(1, 2, 3)) / ((height - 1) * (width - 1))
