"""Gradient-based metrics: Qabf (Xydeas & Petrovic edge preservation) and Nabf (Shreyamsha Kumar's fusion artifacts).

Both compare Sobel edge strength g and orientation alpha of the fused image F with those of each source, pixel by
pixel, on the 0-255 scale. Their thresholds are absolute (Qabf's g_X == g_F case, Nabf's T_d = 2), so the values
depend on the data range; 0-255 is the convention of the maintained reference code (see docs/metrics.md).
"""

import math

import torch
from torch import Tensor

from semfuse.metrics._checks import as_float64, check_grey_images

_HALF_PI = math.pi / 2


def _correlate3x3(padded: Tensor, kernel: tuple[tuple[float, ...], ...]) -> Tensor:
    """Correlate a padded (..., H + 2, W + 2) image with a 3x3 kernel: (..., H, W). Exact for integer data."""
    height, width = padded.shape[-2] - 2, padded.shape[-1] - 2
    out = torch.zeros(padded.shape[:-2] + (height, width), dtype=padded.dtype, device=padded.device)
    for u, row in enumerate(kernel):
        for v, weight in enumerate(row):
            if weight:
                out.add_(padded[..., u : u + height, v : v + width], alpha=weight)
    return out


# conv2d(x, h, 'same') of the reference = correlation with the kernel rotated by 180 degrees.
_QABF_SX = ((1, 0, -1), (2, 0, -2), (1, 0, -1))  # rot180 of [-1 0 1; -2 0 2; -1 0 1]
_QABF_SY = ((-1, -2, -1), (0, 0, 0), (1, 2, 1))  # rot180 of [1 2 1; 0 0 0; -1 -2 -1]
QABF_CONSTANTS = {"Tg": 0.9994, "kg": -15.0, "Dg": 0.5, "Ta": 0.9879, "ka": -22.0, "Da": 0.8}


def _qabf_edges(image: Tensor) -> tuple[Tensor, Tensor]:
    """Edge strength and orientation of (B, K, H, W) images: Sobel by convolution, zero padding, 'same' size."""
    padded = torch.nn.functional.pad(image, (1, 1, 1, 1))
    sx, sy = _correlate3x3(padded, _QABF_SX), _correlate3x3(padded, _QABF_SY)
    strength = (sx.square() + sy.square()).sqrt()  # exact sums of squares, so equal strengths compare equal
    orientation = torch.where(sx == 0, torch.full_like(sx, _HALF_PI), torch.atan(sy / sx))
    return strength, orientation


def qabf(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Qabf: how much of the sources' edge information reaches the fused image (Xydeas & Petrovic 2000).

    With Sobel responses S_x, S_y (2-D convolution, zero padding, same size), g = \sqrt{S_x^2 + S_y^2} and
    alpha = atan(S_y / S_x) (pi/2 where S_x = 0), for each source X in {A, B}:

    * G^{XF} = g_F / g_X if g_X > g_F, g_F if g_X = g_F (the reference code's value; the paper has 1), else g_X / g_F;
    * A^{XF} = 1 - |alpha_X - alpha_F| / (pi / 2);
    * Q^{XF} = T_g / (1 + e^{k_g (G^{XF} - D_g)}) * T_a / (1 + e^{k_a (A^{XF} - D_a)}),
      T_g = 0.9994, k_g = -15, D_g = 0.5, T_a = 0.9879, k_a = -22, D_a = 0.8.

    Qabf = \sum (Q^{AF} g_A + Q^{BF} g_B) / \sum (g_A + g_B) over all pixels. Range [0, 1], higher is better.

    Args:
        fused: tensor of shape (B, 1, H, W), values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64; NaN if neither source has any edge.

    Example:
        >>> x = torch.tensor([[[[0.0, 0.0, 9.0, 9.0]] * 4]])
        >>> qabf(x, x, x)  # identical images: G = g_F = 36 or 12 (>= 1), A = 1, so Q = Tg * Ta / (1 + e^-4.4)
        tensor([0.9753], dtype=torch.float64)
    """
    check_grey_images("qabf", fused=fused, ir=ir, vis=vis)
    c = QABF_CONSTANTS
    strength, orientation = _qabf_edges(torch.cat([as_float64(ir), as_float64(vis), as_float64(fused)], dim=1))
    g_sources, g_fused = strength[:, :2], strength[:, 2:]
    a_sources, a_fused = orientation[:, :2], orientation[:, 2:]
    ratio = torch.where(
        g_sources > g_fused,
        g_fused / g_sources.clamp_min(1e-300),
        torch.where(g_sources == g_fused, g_fused, g_sources / g_fused.clamp_min(1e-300)),
    )
    angle = 1 - (a_sources - a_fused).abs() / _HALF_PI
    strength_term = c["Tg"] / (1 + torch.exp(c["kg"] * (ratio - c["Dg"])))
    angle_term = c["Ta"] / (1 + torch.exp(c["ka"] * (angle - c["Da"])))
    preserved = strength_term * angle_term * g_sources  # (B, 2, H, W)
    return preserved.sum(dim=(1, 2, 3)) / g_sources.sum(dim=(1, 2, 3))


# Nabf's Sobel: correlation (not convolution) with these kernels / 8, after a 1-pixel mirror padding.
_NABF_GV = ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))
_NABF_GH = ((-1, -2, -1), (0, 0, 0), (1, 2, 1))
NABF_CONSTANTS = {
    "Td": 2.0, "wt_min": 0.001, "Lg": 1.5, "Nrg": 0.9999, "kg": 19.0, "sigma_g": 0.5,
    "Nra": 0.9995, "ka": 22.0, "sigma_a": 0.5,
}  # fmt: skip


def _nabf_edges(image: Tensor) -> tuple[Tensor, Tensor]:
    """Edge strength and orientation of (B, K, H, W) images: Sobel / 8 by correlation after reflect padding."""
    padded = torch.nn.functional.pad(image, (1, 1, 1, 1), mode="reflect")
    gv, gh = _correlate3x3(padded, _NABF_GV) / 8, _correlate3x3(padded, _NABF_GH) / 8
    strength = (gh.square() + gv.square()).sqrt()
    flat = (gv == 0) & (gh == 0)
    orientation = torch.where(flat, torch.zeros_like(gv), torch.atan(gv / gh))  # +-pi/2 where gh = 0
    return strength, orientation


def nabf(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Nabf: the fraction of fusion artifacts, noise or edges in F that no source has (Shreyamsha Kumar 2013).

    With Sobel responses gv, gh (correlation with the Sobel kernels / 8 after a 1-pixel mirror padding),
    g = \sqrt{gh^2 + gv^2} and alpha = atan(gv / gh) (0 where gv = gh = 0), for each source X in {A, B}:

    * g^{XF} = min(g_X, g_F) / max(g_X, g_F), or 0 where g_X or g_F is 0;
    * alpha^{XF} = | |alpha_X - alpha_F| - pi/2 | 2 / pi;
    * Q^{XF} = \sqrt{ N_{rg} / (1 + e^{-k_g (g^{XF} - sigma_g)}) * N_{ra} / (1 + e^{-k_a (alpha^{XF} - sigma_a)}) },
      N_rg = 0.9999, k_g = 19, sigma_g = 0.5, N_ra = 0.9995, k_a = 22, sigma_a = 0.5;
    * weights w_X = g_X^{1.5} where g_X >= T_d = 2, else 0.001;
    * na = 1 where g_F > g_A and g_F > g_B, else 0.

    Nabf = \sum na ((1 - Q^{AF}) w_A + (1 - Q^{BF}) w_B) / \sum (w_A + w_B). Range [0, 1], lower is better.

    Args:
        fused: tensor of shape (B, 1, H, W) with H, W >= 2, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.tensor([[[[0.0, 0.0, 9.0, 9.0]] * 4]])
        >>> nabf(x, x, x)  # F never has a stronger edge than both sources
        tensor([0.], dtype=torch.float64)
    """
    check_grey_images("nabf", min_size=2, fused=fused, ir=ir, vis=vis)
    c = NABF_CONSTANTS
    strength, orientation = _nabf_edges(torch.cat([as_float64(ir), as_float64(vis), as_float64(fused)], dim=1))
    g_sources, g_fused = strength[:, :2], strength[:, 2:]
    a_sources, a_fused = orientation[:, :2], orientation[:, 2:]
    ratio = torch.minimum(g_sources, g_fused) / torch.maximum(g_sources, g_fused).clamp_min(1e-300)
    ratio = torch.where((g_sources == 0) | (g_fused == 0), torch.zeros_like(ratio), ratio)
    angle = ((a_sources - a_fused).abs() - _HALF_PI).abs() / _HALF_PI
    strength_term = c["Nrg"] / (1 + torch.exp(-c["kg"] * (ratio - c["sigma_g"])))
    angle_term = c["Nra"] / (1 + torch.exp(-c["ka"] * (angle - c["sigma_a"])))
    preserved = (strength_term * angle_term).sqrt()
    weights = torch.where(g_sources >= c["Td"], g_sources.pow(c["Lg"]), torch.full_like(g_sources, c["wt_min"]))
    artifacts = (g_fused > g_sources).all(dim=1, keepdim=True)  # (B, 1, H, W)
    lost = ((1 - preserved) * weights * artifacts).sum(dim=(1, 2, 3))
    return lost / weights.sum(dim=(1, 2, 3))
