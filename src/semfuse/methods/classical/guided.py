"""Guided filtering based fusion, GFF (Li, Kang & Hu, IEEE Trans. Image Processing 22(7), 2013).

For each source I_n (here n = ir, vis):

1. Two-scale decomposition: base B_n = I_n * Z with Z the 31x31 mean filter; detail D_n = I_n - B_n.
2. Saliency S_n = |I_n * L| * g, with L the 3x3 Laplacian and g the 11x11 Gaussian (r_g = 5, sigma_g = 5).
3. Weight maps P_n = 1 where S_n is the largest saliency of the pixel (every tied source gets 1), else 0.
4. Refinement by the guided filter with I_n as guide: W^B_n = G_{r1, eps1}(P_n, I_n),
   W^D_n = G_{r2, eps2}(P_n, I_n), with r1 = 45, eps1 = 0.3, r2 = 7, eps2 = 1e-6; normalised to sum 1 per pixel.
5. Fused image: sum_n W^B_n B_n + W^D_n D_n.

Intensities are in [0, 1], as in the authors' MATLAB code (the eps values refer to that range). Borders: the mean,
Laplacian and Gaussian filters replicate the edge; the guided filter uses He et al.'s box filter, which averages
only the pixels inside the image. Where the normalising sum of the two refined weights is below 1e-12 in
magnitude (not seen on real images; the paper does not say) the pixel takes equal weights.
"""

from functools import partial

import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.methods.classical.contract import (
    check_luminance_pair,
    check_positive_float,
    check_positive_int,
    finish,
    working_copy,
)
from semfuse.methods.classical.filters import (
    gaussian_kernel,
    laplacian_filter,
    mean_filter,
    separable_filter,
)
from semfuse.methods.registry import FuseFn, register_method


def guided_filter(guide: Tensor, source: Tensor, radius: int, eps: float) -> Tensor:
    """He, Sun & Tang's guided filter (ECCV 2010 / TPAMI 2013), grey guide.

    ``q = mean(a) * guide + mean(b)`` with ``a = cov(guide, source) / (var(guide) + eps)`` and
    ``b = mean(source) - a * mean(guide)``, all means over (2r + 1)^2 windows truncated at the border.

    Args:
        guide: guidance image (B, 1, H, W), float64 advised.
        source: image to filter (B, 1, H, W).
        radius: window radius r >= 0.
        eps: regularisation > 0 (larger: smoother output).

    Returns:
        Filtered image (B, 1, H, W).
    """
    check_tensors("guided_filter", {"guide": guide, "source": source})
    mean_guide = mean_filter(guide, radius)
    mean_source = mean_filter(source, radius)
    covariance = mean_filter(guide * source, radius) - mean_guide * mean_source
    variance = mean_filter(guide * guide, radius) - mean_guide * mean_guide
    a = covariance / (variance + eps)
    b = mean_source - a * mean_guide
    return mean_filter(a, radius) * guide + mean_filter(b, radius)


def gff_saliency(image: Tensor, gaussian_radius: int = 5, gaussian_sigma: float = 5.0) -> Tensor:
    """Saliency S = |Laplacian(image)| smoothed by a Gaussian, (B, 1, H, W) -> (B, 1, H, W)."""
    kernel = gaussian_kernel(gaussian_radius, gaussian_sigma)
    return separable_filter(laplacian_filter(image).abs(), kernel, "replicate")


def _normalised(weight_ir: Tensor, weight_vis: Tensor) -> tuple[Tensor, Tensor]:
    total = weight_ir + weight_vis
    degenerate = total.abs() < 1e-12
    safe_total = torch.where(degenerate, torch.ones_like(total), total)
    half = torch.full_like(total, 0.5)
    return torch.where(degenerate, half, weight_ir / safe_total), torch.where(degenerate, half, weight_vis / safe_total)


def gff_fuse(
    ir: Tensor,
    vis: Tensor,
    base_radius: int = 15,
    r1: int = 45,
    eps1: float = 0.3,
    r2: int = 7,
    eps2: float = 1e-6,
) -> Tensor:
    """Guided filtering based fusion (GFF) of two luminances.

    Args:
        ir, vis: luminance tensors of one shape (B, 1, H, W) in [0, 1].
        base_radius: radius of the mean filter of the two-scale decomposition (15: the paper's 31x31).
        r1, eps1: guided filter of the base weights (paper: 45, 0.3).
        r2, eps2: guided filter of the detail weights (paper: 7, 1e-6).

    Returns:
        Tensor (B, 1, H, W) in [0, 1], dtype of ``ir``.
    """
    check_luminance_pair(ir, vis, "gff")
    images = [working_copy(ir), working_copy(vis)]
    bases = [mean_filter(image, base_radius, border="replicate") for image in images]
    saliency_ir, saliency_vis = (gff_saliency(image) for image in images)
    strongest = torch.maximum(saliency_ir, saliency_vis)
    masks = [(saliency_ir == strongest).to(torch.float64), (saliency_vis == strongest).to(torch.float64)]
    base_weights = _normalised(*(guided_filter(image, mask, r1, eps1) for image, mask in zip(images, masks)))
    detail_weights = _normalised(*(guided_filter(image, mask, r2, eps2) for image, mask in zip(images, masks)))
    fused_ir, fused_vis = (
        w_base * base + w_detail * (image - base)
        for image, base, w_base, w_detail in zip(images, bases, base_weights, detail_weights)
    )
    return finish(fused_ir + fused_vis, ir)


@register_method(
    "gff",
    "guided filtering based fusion: two-scale decomposition, saliency weights refined by guided filters",
    "Li, Kang & Hu, IEEE Transactions on Image Processing 22(7):2864-2875, 2013",
)
def gff_method(
    base_radius: int = 15, r1: int = 45, eps1: float = 0.3, r2: int = 7, eps2: float = 1e-6
) -> FuseFn:
    """Factory of :func:`gff_fuse` with its options bound (checked here, once)."""
    for option, value in (("base_radius", base_radius), ("r1", r1), ("r2", r2)):
        check_positive_int(value, option, "gff")
    check_positive_float(eps1, "eps1", "gff")
    check_positive_float(eps2, "eps2", "gff")
    return partial(gff_fuse, base_radius=base_radius, r1=r1, eps1=float(eps1), r2=r2, eps2=float(eps2))
