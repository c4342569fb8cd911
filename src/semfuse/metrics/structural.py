"""Structural similarity: Wang's SSIM summed over the sources, and the multi-exposure-fusion MS-SSIM of Ma et al.

* ``SSIM`` = SSIM(A, F) + SSIM(B, F) with Wang et al.'s 2004 ``ssim_index`` (11x11 Gaussian window, sigma 1.5,
  valid windows only, K1 = 0.01, K2 = 0.03, L = 255), as VIFB's ``metricsSsim.m`` and most fusion papers compute it.
* ``MS-SSIM`` = the 3-scale MEF-SSIM (Ma, Zeng & Wang 2015, ``analysis_ms_ssim.m`` + ``mef_ssim.m``), which scores
  F against the *pair* of sources; it is not Wang's MS-SSIM of F against each source.
"""

import math

import numpy as np
import torch
from torch import Tensor

from semfuse.metrics._checks import as_float64, check_grey_images
from semfuse.metrics.compiled import use_compiled, windowed_kernels
from semfuse.metrics.constants import SSIM_C1, SSIM_C2, SSIM_K1, SSIM_K2, SSIM_L, SSIM_SIGMA, SSIM_WINDOW
from semfuse.metrics.filters import (
    STRIP_ELEMENTS,
    box_sum_valid,
    gaussian_kernel_1d,
    moment_stack,
    row_strips,
    separable_filter_valid,
)

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001)
_EPS = torch.finfo(torch.float64).eps


def _ssim_per_reference(references: Tensor, image: Tensor, data_range: float = SSIM_L) -> Tensor:
    """Mean Wang SSIM of each reference channel (B, K, H, W) against one image (B, 1, H, W): (B, K)."""
    if data_range == SSIM_L and use_compiled(references, image):
        return _ssim_per_reference_compiled(references, image)
    k = references.shape[1]
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    kernel = gaussian_kernel_1d(SSIM_WINDOW, SSIM_SIGMA, device=image.device)
    moments = separable_filter_valid(moment_stack(references, image), kernel)  # (B, 3K + 2, h, w)
    mu1, mu2 = moments[:, :k], moments[:, k : k + 1]
    # In place where possible: on a CPU these maps are larger than the cache and every fresh tensor costs.
    sigma1_sq = torch.addcmul(moments[:, k + 1 : 2 * k + 1], mu1, mu1, value=-1)
    sigma2_sq = torch.addcmul(moments[:, 2 * k + 1 : 2 * k + 2], mu2, mu2, value=-1)
    sigma12 = torch.addcmul(moments[:, 2 * k + 2 :], mu1, mu2, value=-1)
    numerator = (mu1 * mu2).mul_(2).add_(c1).mul_(sigma12.mul_(2).add_(c2))
    denominator = mu1.square().add_(mu2.square()).add_(c1).mul_(sigma1_sq.add_(sigma2_sq).add_(c2))
    return numerator.div_(denominator).mean(dim=(2, 3))


def _ssim_per_reference_compiled(references: Tensor, image: Tensor) -> Tensor:
    """:func:`_ssim_per_reference` by the compiled kernel, one batch element at a time, on images centred on their
    rounded means (less rounding in the moments; the SSIM map is computed from the true means)."""
    kernel = gaussian_kernel_1d(SSIM_WINDOW, SSIM_SIGMA).numpy()
    both = torch.cat([references, image], dim=1).detach()  # (B, K + 1, H, W)
    offsets = both.mean(dim=(2, 3), keepdim=True).round()
    centred = both - offsets
    scores = torch.empty(references.shape[:2], dtype=torch.float64)
    for index in range(both.shape[0]):
        sums, windows = windowed_kernels().ssim_sums(
            centred[index].contiguous().numpy(), kernel, offsets[index].flatten().numpy()
        )
        scores[index] = torch.from_numpy(sums) / windows
    return scores


def ssim_wang(x: Tensor, y: Tensor) -> Tensor:
    r"""Wang et al.'s SSIM index (``ssim_index.m``, 2004) of two images on the 0-255 scale.

    With Gaussian-weighted local statistics (11x11 window, sigma 1.5, valid positions only), C1 = (0.01 * 255)^2 and
    C2 = (0.03 * 255)^2:

        ssim_map = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

    and SSIM = mean(ssim_map). Symmetric; SSIM(x, x) = 1.

    Args:
        x: tensor of shape (B, 1, H, W), H, W >= 11, values on the 0-255 scale.
        y: tensor of the same shape.

    Returns:
        Tensor of shape (B,), float64, in [-1, 1].

    Example:
        >>> x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 255
        >>> ssim_wang(x, x)
        tensor([1.], dtype=torch.float64)
    """
    check_grey_images("ssim_wang", min_size=SSIM_WINDOW, x=x, y=y)
    return _ssim_per_reference(as_float64(x), as_float64(y))[:, 0]


def structural_similarity(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Fusion SSIM as fusion papers report it: the SUM of Wang's SSIM over the two sources.

    SSIM = ssim(A, F) + ssim(B, F), with :func:`ssim_wang`, A = infrared, B = visible. Range [-2, 2], higher is
    better.

    Args:
        fused: tensor of shape (B, 1, H, W), H, W >= 11, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 255
        >>> structural_similarity(x, x, x)
        tensor([2.], dtype=torch.float64)
    """
    check_grey_images("structural_similarity", min_size=SSIM_WINDOW, fused=fused, ir=ir, vis=vis)
    references = torch.cat([as_float64(ir), as_float64(vis)], dim=1)  # (B, 2, H, W)
    return _ssim_per_reference(references, as_float64(fused)).sum(dim=1)


def _mef_ssim_scale(sources: Tensor, fused: Tensor, constant: float) -> tuple[Tensor, Tensor]:
    """MEF-SSIM of fused (B, 1, H, W) against the two sources (B, 2, H, W) at one scale: (B,).

    Also returns the Gaussian-weighted local means of the nine planes x1 x2 x1^2 x2^2 x1x2 f f^2 x1f x2f,
    (B, 9, h, w), from which :func:`_ssim_from_moments` gives Wang's SSIM without filtering again.
    """
    x1, x2 = sources[:, :1], sources[:, 1:]
    # The nine planes whose local statistics enter; the first five are also box-summed.
    stack = sources.new_empty(sources.shape[0], 9, *sources.shape[2:])
    stack[:, :2] = sources
    torch.square(sources, out=stack[:, 2:4])
    torch.mul(x1, x2, out=stack[:, 4:5])
    stack[:, 5:6] = fused
    torch.square(fused, out=stack[:, 6:7])
    torch.mul(sources, fused, out=stack[:, 7:9])
    # Box statistics over each 11x11 patch (x1 x2 x1^2 x2^2 x1x2), and Gaussian-weighted ones of all nine.
    sums = box_sum_valid(stack[:, :5], SSIM_WINDOW)  # (B, 5, h, w)
    kernel = gaussian_kernel_1d(SSIM_WINDOW, SSIM_SIGMA, device=fused.device)
    moments = separable_filter_valid(stack, kernel)  # (B, 9, h, w)
    total = sums.new_zeros(sums.shape[0])
    for rows in row_strips(sums):
        total += _mef_ssim_map(sums[..., rows, :], moments[..., rows, :], constant).sum(dim=(1, 2, 3))
    return total / sums[0, 0].numel(), moments


def _mef_ssim_map(sums: Tensor, moments: Tensor, constant: float) -> Tensor:
    """The MEF-SSIM map q (B, 1, h, w) from box sums (B, 5, h, w), which it overwrites, and moments (B, 9, h, w).

    In place where possible: every fresh tensor costs on a CPU.
    """
    area = SSIM_WINDOW * SSIM_WINDOW
    # V_kl = area * sum(x_k x_l) - sum(x_k) sum(x_l) = area^2 * cov; it is exact for integer (and, after the 2x2
    # mean pooling, dyadic) data, so flat patches give exactly 0.
    s1, s2 = sums[:, :1], sums[:, 1:2]
    v11 = sums[:, 2:3].mul_(area).addcmul_(s1, s1, value=-1)
    v22 = sums[:, 3:4].mul_(area).addcmul_(s2, s2, value=-1)
    v12 = sums[:, 4:5].mul_(area).addcmul_(s1, s2, value=-1)
    # Divisions and square roots dominate the cost of this map: constants are divided out as products.
    norm1 = v11.clamp_min(0).mul_(1 / area).sqrt_()  # ||x_1 - mean(x_1)|| over the patch
    norm2 = v22.clamp_min(0).mul_(1 / area).sqrt_()
    norm_sum = (v11 + v22).add_(v12, alpha=2).clamp_min_(0).mul_(1 / area).sqrt_()  # ||s - mean(s)||, s = x_1 + x_2
    ed1, ed2 = norm1 + 0.001, norm2 + 0.001

    # R = (||s - mean s|| + eps) / (sum_k ||x_k - mu_k|| + eps) is > 0, so the reference's R < 0 -> eps never
    # applies; its R > 1 -> 1 - eps gives p = min(tan(pi/2 (1 - eps)), 10) = 10, as R = 1 does (tan(pi/2) in
    # floating point is 1.6e16), so R clamped at 1 gives the same p.
    spread = norm1.add_(norm2).add_(_EPS)  # norm1 is not needed any more
    consistency = norm_sum.add_(_EPS).div_(spread).clamp_max_(1)
    power = consistency.mul_(math.pi / 2).tan_().clamp_max_(10)
    # (ed / 11)^p as exp(p log(ed / 11)), ed >= 0.001: torch.pow of two tensors is several times slower
    w1 = torch.mul(ed1, 1 / SSIM_WINDOW).log_().mul_(power).exp_().add_(_EPS)
    w2 = torch.mul(ed2, 1 / SSIM_WINDOW).log_().mul_(power).exp_().add_(_EPS)
    total = w1 + w2
    c1 = w1.div_(total * ed1)  # r = c1 (x_1 - mu_1) + c2 (x_2 - mu_2)
    c2 = w2.div_(total.mul_(ed2))
    c11, c12, c22 = c1.square(), c1 * c2, c2.square()
    r_norm = (c11 * v11).addcmul_(c12, v12, value=2).addcmul_(c22, v22).clamp_min_(0).mul_(1 / area).sqrt_()
    # r rescaled to norm max(ed_1, ed_2) (r = 0 stays 0): c_k -> c_k scale
    scale = torch.where(r_norm > 0, torch.maximum(ed1, ed2).div_(r_norm.clamp_min(1e-300)), 1.0)

    g = moments  # x1 x2 x1^2 x2^2 x1x2 f f^2 x1f x2f
    cov11 = torch.addcmul(g[:, 2:3], g[:, 0:1], g[:, 0:1], value=-1)
    cov22 = torch.addcmul(g[:, 3:4], g[:, 1:2], g[:, 1:2], value=-1)
    cov12 = torch.addcmul(g[:, 4:5], g[:, 0:1], g[:, 1:2], value=-1)
    var_f = torch.addcmul(g[:, 6:7], g[:, 5:6], g[:, 5:6], value=-1)
    cov1f = torch.addcmul(g[:, 7:8], g[:, 0:1], g[:, 5:6], value=-1)
    cov2f = torch.addcmul(g[:, 8:9], g[:, 1:2], g[:, 5:6], value=-1)
    var_r = cov11.mul_(c11).addcmul_(c12, cov12, value=2).addcmul_(c22, cov22).mul_(scale.square())
    cov_rf = cov1f.mul_(c1).addcmul_(c2, cov2f).mul_(scale)
    return cov_rf.mul_(2).add_(constant).div_(var_r.add_(var_f).add_(constant))


def _ssim_from_moments(moments: Tensor, source_offsets: Tensor, fused_offset: Tensor) -> Tensor:
    """Wang SSIM of each source against F, (B, 2), from :func:`_mef_ssim_scale`'s moments of the centred images.

    The images were centred on offsets a (their rounded means): the local means are mu = g + a, and the local
    (co)variances, invariant to the offsets, come from the centred moments (with less rounding than raw moments).
    """
    total = moments.new_zeros(moments.shape[0], 2)
    for rows in row_strips(moments):
        total += _ssim_map(moments[..., rows, :], source_offsets, fused_offset).sum(dim=(2, 3))
    return total / moments[0, 0].numel()


def _ssim_map(moments: Tensor, source_offsets: Tensor, fused_offset: Tensor) -> Tensor:
    """Wang's ssim_map of each source against F, (B, 2, h, w), from moments as in :func:`_ssim_from_moments`."""
    c1, c2 = SSIM_C1, SSIM_C2
    mu1 = moments[:, 0:2] + source_offsets  # (B, 2, h, w)
    mu2 = moments[:, 5:6] + fused_offset
    sigma1_sq = torch.addcmul(moments[:, 2:4], moments[:, 0:2], moments[:, 0:2], value=-1)
    sigma2_sq = torch.addcmul(moments[:, 6:7], moments[:, 5:6], moments[:, 5:6], value=-1)
    sigma12 = torch.addcmul(moments[:, 7:9], moments[:, 0:2], moments[:, 5:6], value=-1)
    numerator = (mu1 * mu2).mul_(2).add_(c1).mul_(sigma12.mul_(2).add_(c2))
    denominator = mu1.square_().add_(mu2.square_()).add_(c1).mul_(sigma1_sq.add_(sigma2_sq).add_(c2))
    return numerator.div_(denominator)


def _mean_pool_2x2(images: Tensor) -> Tensor:
    """imfilter(x, ones(2)/4, 'symmetric', 'same') then x(1:2:end, 1:2:end): (..., ceil(H/2), ceil(W/2)).

    Only the kept outputs are computed: each is the mean of a 2x2 block, the last row / column repeated when H / W
    is odd (the symmetric border).
    """
    height, width = images.shape[-2:]
    padded = torch.nn.functional.pad(images, (0, width % 2, 0, height % 2), mode="replicate")
    top, bottom = padded[..., 0::2, :], padded[..., 1::2, :]
    pooled = (top[..., 0::2] + bottom[..., 0::2]).add_(top[..., 1::2]).add_(bottom[..., 1::2])
    return pooled.div_(4)


def mef_ssim_scales(fused: Tensor, ir: Tensor, vis: Tensor, levels: int = 3) -> Tensor:
    """MEF-SSIM of F against {A, B} at each of ``levels`` scales (scale 1 = full size); see :func:`ms_ssim`.

    Args:
        fused: tensor of shape (B, 1, H, W), H, W >= 10 * 2^(levels-1) + 1, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.
        levels: number of scales.

    Returns:
        Tensor of shape (B, levels), float64.

    Example:
        >>> x = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0)) * 255
        >>> mef_ssim_scales(x, x, x).shape
        torch.Size([1, 3])
    """
    smallest = (SSIM_WINDOW - 1) * 2 ** (levels - 1) + 1  # the coarsest scale, ceil(H / 2^(levels-1)), holds a window
    check_grey_images("mef_ssim_scales", min_size=smallest, fused=fused, ir=ir, vis=vis)
    return _mef_ssim_scales(fused, ir, vis, levels)[0]


def _mef_ssim_scales(fused: Tensor, ir: Tensor, vis: Tensor, levels: int) -> tuple[Tensor, Tensor]:
    """(B, levels) MEF-SSIM per scale, and the (B, 2) Wang SSIM of each source against F from scale 1's moments."""
    sources = torch.cat([as_float64(ir), as_float64(vis)], dim=1)  # (B, 2, H, W)
    image = as_float64(fused)
    # Every step is invariant to a constant offset per image; removing the rounded mean keeps integer data integer
    # and the moment arithmetic small.
    source_offsets = sources.mean(dim=(2, 3), keepdim=True).round()
    fused_offset = image.mean(dim=(2, 3), keepdim=True).round()
    sources, image = sources - source_offsets, image - fused_offset
    constant = SSIM_C2
    if use_compiled(sources, image):
        return _mef_ssim_scales_compiled(sources, image, torch.cat([source_offsets, fused_offset], dim=1), levels)
    scores = []
    for level in range(levels):
        if level:
            sources, image = _mean_pool_2x2(sources), _mean_pool_2x2(image)
        score, moments = _mef_ssim_scale(sources, image, constant)
        scores.append(score)
        if not level:
            ssim = _ssim_from_moments(moments, source_offsets, fused_offset)
    return torch.stack(scores, dim=1), ssim


def _mef_ssim_scales_compiled(
    sources: Tensor, image: Tensor, offsets: Tensor, levels: int
) -> tuple[Tensor, Tensor]:
    """:func:`_mef_ssim_scales` of centred sources (B, 2, H, W) and F (B, 1, H, W), centred on offsets (B, 3, 1, 1),
    by the compiled kernels, one batch element at a time."""
    scores = torch.empty(sources.shape[0], levels, dtype=torch.float64)
    ssim = torch.empty(sources.shape[0], 2, dtype=torch.float64)
    for index in range(sources.shape[0]):
        images = torch.cat([sources[index], image[index]]).detach()  # (3, H, W): x1, x2, F
        shifts = offsets[index].flatten().detach().cpu().numpy()
        for level in range(levels):
            if level:
                images = _mean_pool_2x2(images)
            total, ssim_sums, windows = _mef_ssim_scale_compiled(images.contiguous().numpy(), shifts, level == 0)
            scores[index, level] = total / windows
            if not level:
                ssim[index] = torch.from_numpy(ssim_sums) / windows
    return scores, ssim


def _mef_ssim_scale_compiled(
    images: np.ndarray, offsets: np.ndarray, with_ssim: bool
) -> tuple[float, np.ndarray, int]:
    """The sum of the MEF-SSIM map of images (3, H, W) = x1, x2, F (centred on ``offsets``), the (2,) sums of the
    SSIM maps (zeros unless ``with_ssim``) and the number of windows.

    Row strips small enough to stay in cache go through the compiled kernels' two halves; between them numpy's
    vectorised tan, log and exp compute the weights (ed_k / 11)^p, p = min(tan(pi R / 2), 10), in the order of
    :func:`_mef_ssim_map` (scalar calls from compiled code would cost several times more).
    """
    kernels = windowed_kernels()
    kernel = gaussian_kernel_1d(SSIM_WINDOW, SSIM_SIGMA).numpy()
    rows, cols = images.shape[1] - SSIM_WINDOW + 1, images.shape[2] - SSIM_WINDOW + 1
    strip = max(1, min(rows, STRIP_ELEMENTS // cols))
    moments = np.empty((9, strip, cols))
    variations = np.empty((3, strip, cols))
    scales = np.empty((2, strip, cols))
    consistency = np.empty((strip, cols))
    weights = np.empty((2, strip, cols))
    total, ssim = 0.0, np.zeros(2)
    with np.errstate(all="ignore"):  # non-finite pixels give NaN quietly, as in the tensor code
        for top in range(0, rows, strip):
            count = min(strip, rows - top)  # the kernels fill and read the first count rows of the buffers
            kernels.mef_prepare(images, kernel, top, count, moments, variations, scales, consistency)
            power, weight = consistency[:count], weights[:, :count]
            np.multiply(power, math.pi / 2, out=power)
            np.minimum(np.tan(power, out=power), 10.0, out=power)
            np.multiply(scales[:, :count], 1 / SSIM_WINDOW, out=weight)
            np.log(weight, out=weight)
            np.multiply(weight, power, out=weight)
            np.exp(weight, out=weight)
            strip_total, strip_ssim = kernels.mef_finish(
                count, moments, variations, scales, weights, SSIM_C2, offsets, with_ssim
            )
            total += strip_total
            ssim += strip_ssim
    return total, ssim, rows * cols


def ms_ssim(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""MS-SSIM of a fusion as the reference code computes it: Ma et al.'s multi-scale MEF-SSIM against {A, B}.

    At each position of an 11x11 window (valid positions only), the source patches x_1, x_2 (A = infrared,
    B = visible) give a desired structure: with mu_k the patch means, ed_k = ||x_k - mu_k|| + 0.001,
    R = (||s - mean(s)|| + eps) / (\sum_k ||x_k - mu_k|| + eps) for s = x_1 + x_2, p = min(tan(pi R / 2), 10),
    weights w_k = (ed_k / 11)^p + eps (normalised to sum 1) and r = \sum_k w_k (x_k - mu_k) / ed_k rescaled to norm
    max_k ed_k. Then q = (2 sigma_rf + C) / (sigma_r^2 + sigma_f^2 + C) with Gaussian-weighted (sigma 1.5)
    statistics and C = (0.03 * 255)^2; Q_l is the mean of q at scale l. Between scales each image is mean-pooled
    2x2 (replicated bottom/right border) and subsampled by 2.

        MS-SSIM = \prod_{l=1}^{3} Q_l^{beta_l},  beta = [0.0448, 0.2856, 0.3001] / 0.6305

    Higher is better, at most 1. A negative Q_l has no real power: the result is NaN, as MATLAB's is complex.

    Args:
        fused: tensor of shape (B, 1, H, W), H, W >= 41, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0)) * 255
        >>> ms_ssim(x, x, x)  # F equal to both sources keeps their common structure
        tensor([1.0000], dtype=torch.float64)
    """
    return _ms_ssim_from_scales(mef_ssim_scales(fused, ir, vis, levels=len(MS_SSIM_WEIGHTS)))


def _ms_ssim_from_scales(scores: Tensor) -> Tensor:
    """prod_l Q_l^(beta_l) of (B, levels) per-scale MEF-SSIM values."""
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64, device=scores.device)
    return scores.pow(weights / weights.sum()).prod(dim=1)


def ssim_and_ms_ssim(fused: Tensor, ir: Tensor, vis: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`structural_similarity` and :func:`ms_ssim` in one pass: both need the same 11x11 Gaussian moments
    of the sources and F at full size, which are filtered once (the panel computes them this way).

    Args:
        fused: tensor of shape (B, 1, H, W), H, W >= 41, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        (SSIM, MS-SSIM), each a tensor of shape (B,), float64.

    Example:
        >>> x = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0)) * 255
        >>> ssim_and_ms_ssim(x, x, x)
        (tensor([2.], dtype=torch.float64), tensor([1.0000], dtype=torch.float64))
    """
    levels = len(MS_SSIM_WEIGHTS)
    smallest = (SSIM_WINDOW - 1) * 2 ** (levels - 1) + 1
    check_grey_images("ssim_and_ms_ssim", min_size=smallest, fused=fused, ir=ir, vis=vis)
    scores, ssim = _mef_ssim_scales(fused, ir, vis, levels)
    return ssim.sum(dim=1), _ms_ssim_from_scales(scores)
