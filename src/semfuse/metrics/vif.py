"""Visual information fidelity (VIF), the multi-scale pixel-domain VIF of Sheikh & Bovik (``vifp_mscale.m``).

Fusion papers score a fused image F with VIF = vifp(A, F) + vifp(B, F): each source in turn is the reference and
F the distorted image. VIF is invariant to adding a constant to either image (only local variances enter), so the
images are centred on their rounded mean first, which keeps the rounding of the filtered second moments small.
"""

import math

import numpy as np
import torch
from torch import Tensor

from semfuse.metrics._checks import as_float64, check_grey_images
from semfuse.metrics.compiled import use_compiled, windowed_kernels
from semfuse.metrics.filters import (
    gaussian_kernel_1d,
    moment_stack,
    row_strips,
    separable_filter_valid,
)

NOISE_VARIANCE = 2.0
SCALES = 4
_TINY = 1e-10
_BELOW_TINY = math.nextafter(_TINY, 0.0)  # x > _BELOW_TINY is x >= 1e-10
_LN10 = math.log(10)


def _minimum_size() -> int:
    """Smallest side for which all four scales still have at least one valid window."""
    size = 1
    while True:
        side, fits = size, True
        for scale in range(1, SCALES + 1):
            window = 2 ** (SCALES + 1 - scale) + 1
            if scale > 1:
                side = (side - window + 2) // 2  # valid filtering, then every second sample
            if side < window:
                fits = False
                break
        if fits:
            return size
        size += 1


MIN_SIZE = _minimum_size()


def _scale_sums(reference: Tensor, distorted: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor]:
    """Numerator and denominator sums of one scale. reference: (B, K, H, W); distorted: (B, 1, H, W)."""
    moments = separable_filter_valid(moment_stack(reference, distorted), kernel)  # (B, 3K + 2, h, w)
    numerator = moments.new_zeros(reference.shape[:2])
    denominator = torch.zeros_like(numerator)
    for rows in row_strips(moments):
        strip_numerator, strip_denominator = _information(moments[..., rows, :], reference.shape[1])
        numerator += strip_numerator.sum(dim=(2, 3))
        denominator += strip_denominator.sum(dim=(2, 3))
    return numerator / _LN10, denominator / _LN10  # (B, K) each, log10 sums


def _information(moments: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """ln(1 + g^2 sigma1^2 / (sv^2 + sigma_n^2)) and ln(1 + sigma1^2 / sigma_n^2), each (B, K, h, w), from the
    local moments (B, 3K + 2, h, w) of :func:`semfuse.metrics.filters.moment_stack`, with the reference code's masks.

    In place where possible: every fresh tensor costs on a CPU.
    """
    mu1, mu2 = moments[:, :k], moments[:, k : k + 1]
    sigma1_sq = torch.addcmul(moments[:, k + 1 : 2 * k + 1], mu1, mu1, value=-1)
    sigma2_sq = torch.addcmul(moments[:, 2 * k + 1 : 2 * k + 2], mu2, mu2, value=-1).clamp_min_(0)
    sigma12 = torch.addcmul(moments[:, 2 * k + 2 :], mu1, mu2, value=-1)
    # The reference code's masks: sigma^2 < 0 -> 0, then sigma1^2 < 1e-10 -> 0 (one threshold: x >= 1e-10 kept).
    sigma1_sq = torch.nn.functional.threshold(sigma1_sq, _BELOW_TINY, 0.0, inplace=True)
    # The gain g = sigma12 / (sigma1^2 + 1e-10) counts only where sigma1^2 >= 1e-10, sigma2^2 >= 1e-10 and g > 0
    # (elsewhere g = 0 and the numerator term is log10(1) = 0); there sv^2 = max(sigma2^2 - g sigma12, 1e-10).
    # Zeroing sigma12 where sigma2^2 < 1e-10 and clamping g at 0 give g = 0 on two of the three masks; on the
    # third, sigma1^2 = 0 makes g^2 sigma1^2 = 0 (g stays finite: |sigma12| <= 255^2, so |g| <= 7e14).
    gain = (sigma12 * (sigma2_sq >= _TINY)).div_(sigma1_sq + _TINY).clamp_min_(0)
    noise = torch.addcmul(sigma2_sq, gain, sigma12, value=-1).clamp_min_(_TINY).add_(NOISE_VARIANCE)
    information = gain.square_().mul_(sigma1_sq).div_(noise).add_(1).log_()
    return information, sigma1_sq.div_(NOISE_VARIANCE).add_(1).log_()


def _vif_per_reference(references: Tensor, distorted: Tensor) -> Tensor:
    """vifp of each reference channel against one distorted image. references: (B, K, H, W) -> (B, K)."""
    reference = references - references.mean(dim=(2, 3), keepdim=True).round()
    distorted = distorted - distorted.mean(dim=(2, 3), keepdim=True).round()
    if use_compiled(reference, distorted):
        return _vif_compiled(reference, distorted)
    numerator = torch.zeros(references.shape[:2], dtype=torch.float64, device=references.device)
    denominator = torch.zeros_like(numerator)
    for scale in range(1, SCALES + 1):
        size = 2 ** (SCALES + 1 - scale) + 1
        kernel = gaussian_kernel_1d(size, size / 5, device=references.device)
        if scale > 1:  # filter2(w, x, 'valid') then x(1:2:end, 1:2:end)
            both = separable_filter_valid(torch.cat([reference, distorted], dim=1), kernel, stride=2)
            reference, distorted = both[:, :-1], both[:, -1:]
        scale_numerator, scale_denominator = _scale_sums(reference, distorted, kernel)
        numerator = numerator + scale_numerator
        denominator = denominator + scale_denominator
    return numerator / denominator


def _vif_compiled(reference: Tensor, distorted: Tensor) -> Tensor:
    """:func:`_vif_per_reference` of centred images by the compiled kernels, one batch element at a time."""
    kernels = windowed_kernels()
    sizes = [2 ** (SCALES + 1 - scale) + 1 for scale in range(1, SCALES + 1)]
    window_kernels = [gaussian_kernel_1d(size, size / 5).numpy() for size in sizes]
    scores = torch.empty(reference.shape[:2], dtype=torch.float64)
    for index in range(reference.shape[0]):
        images = torch.cat([reference[index], distorted[index]]).detach().contiguous().numpy()  # (K + 1, H, W)
        numerator = np.zeros(reference.shape[1])
        denominator = np.zeros(reference.shape[1])
        for scale, kernel in enumerate(window_kernels, start=1):
            if scale > 1:  # filter2(w, x, 'valid') then x(1:2:end, 1:2:end)
                images = kernels.filter_valid(images, kernel, 2)
            scale_numerator, scale_denominator = kernels.vif_scale_sums(images, kernel)
            numerator += scale_numerator
            denominator += scale_denominator
        scores[index] = torch.from_numpy(numerator) / torch.from_numpy(denominator)  # 0 / 0 = NaN, unwarned
    return scores


def vif_pixel(reference: Tensor, distorted: Tensor) -> Tensor:
    r"""Multi-scale pixel-domain VIF of ``distorted`` against ``reference`` (Sheikh & Bovik, ``vifp_mscale.m``).

    At scales s = 1..4 a Gaussian window w_s of side N_s = 2^{5-s} + 1 and sigma N_s / 5 (``fspecial``) gives the
    local statistics (valid windows only) mu, sigma_1^2, sigma_2^2, sigma_12; for s > 1 both images are first
    filtered with w_s (valid) and subsampled by 2. With g = sigma_12 / (sigma_1^2 + 1e-10),
    sv^2 = sigma_2^2 - g sigma_12 (clamped as in the reference code) and sigma_n^2 = 2:

        vifp = \sum_s \sum log10(1 + g^2 sigma_1^2 / (sv^2 + sigma_n^2)) / \sum_s \sum log10(1 + sigma_1^2 / sigma_n^2)

    The ratio of the sums over all scales, not a mean of per-scale ratios. Not symmetric in its arguments. A
    reference without any local variance gives 0/0 = NaN, as in MATLAB.

    Args:
        reference: tensor of shape (B, 1, H, W), H, W >= 41, values on the 0-255 scale.
        distorted: tensor of the same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 255
        >>> vif_pixel(x, x).round(decimals=6)
        tensor([1.], dtype=torch.float64)
    """
    check_grey_images("vif_pixel", min_size=MIN_SIZE, reference=reference, distorted=distorted)
    return _vif_per_reference(as_float64(reference), as_float64(distorted))[:, 0]


def visual_information_fidelity(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Fusion VIF as fusion papers report it (Tang's evaluation code): the SUM over the two sources.

    VIF = vifp(A, F) + vifp(B, F), with :func:`vif_pixel`, A = infrared and B = visible as the references.
    Higher is better. Codes that report the mean of the two give half of this.

    Args:
        fused: tensor of shape (B, 1, H, W), H, W >= 41, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 255
        >>> visual_information_fidelity(x, x, x).round(decimals=6)
        tensor([2.], dtype=torch.float64)
    """
    check_grey_images("visual_information_fidelity", min_size=MIN_SIZE, fused=fused, ir=ir, vis=vis)
    references = torch.cat([as_float64(ir), as_float64(vis)], dim=1)  # (B, 2, H, W)
    return _vif_per_reference(references, as_float64(fused)).sum(dim=1)
