"""Gradient-based metrics: Qabf (Xydeas & Petrovic edge preservation) and Nabf (Shreyamsha Kumar's fusion artifacts).

Both compare Sobel edge strength g and orientation alpha of the fused image F with those of each source, pixel by
pixel, on the 0-255 scale. Their thresholds are absolute (Qabf's g_X == g_F case, Nabf's T_d = 2), so the values
depend on the data range; 0-255 is the convention of the maintained reference code (see docs/metrics.md).

The tensor code below is the definition and the path for other devices; on the CPU the metrics run the compiled
kernel of :mod:`semfuse.metrics._gradient_kernels` (see :mod:`semfuse.metrics.compiled`), which computes both from
one pass over the Sobel responses: :func:`qabf_and_nabf` asks for the two at once.
"""

import math

import torch
from torch import Tensor

from semfuse.metrics._checks import check_grey_images
from semfuse.metrics.compiled import gradient_kernels, use_compiled
from semfuse.metrics.constants import NABF_CONSTANTS, QABF_CONSTANTS
from semfuse.metrics.filters import row_strips

_HALF_PI = math.pi / 2


def _sobel(padded: Tensor) -> tuple[Tensor, Tensor]:
    """Sobel responses of a 1-pixel padded (..., H + 2, W + 2) image, each (..., H, W), exact for integer data.

    Returns (sx, sy): the correlations with [1 0 -1; 2 0 -2; 1 0 -1] and with [-1 -2 -1; 0 0 0; 1 2 1], each as
    the separable product of a difference along one axis and the smoothing [1 2 1] along the other.
    """
    difference = padded[..., :, :-2] - padded[..., :, 2:]  # (..., H + 2, W): x[j - 1] - x[j + 1]
    sx = (difference[..., :-2, :] + difference[..., 2:, :]).add_(difference[..., 1:-1, :], alpha=2)
    smoothed = (padded[..., :, :-2] + padded[..., :, 2:]).add_(padded[..., :, 1:-1], alpha=2)  # (..., H + 2, W)
    sy = smoothed[..., 2:, :] - smoothed[..., :-2, :]
    return sx, sy


def _padded_strip(images: tuple[Tensor, ...], rows: slice, reflect: bool) -> Tensor:
    """Rows ``rows`` of the (B, 1, H, W) images as float64 channels (B, K, h + 2, W + 2), with their neighbours.

    The images padded by 1 pixel, zeros or a mirror that does not repeat the edge (``reflect``), as
    ``torch.nn.functional.pad`` would pad the whole images, but only the rows a strip's 3x3 filters read: no
    full-size padded copy is made.
    """
    batch, _, height, width = images[0].shape
    first, last = rows.start - 1, rows.stop + 1  # padded rows first..last - 1, in the images' row numbers
    strip = torch.empty(batch, len(images), last - first, width + 2, dtype=torch.float64, device=images[0].device)
    inside = slice(max(first, 0), min(last, height))
    for channel, image in enumerate(images):
        strip[:, channel, inside.start - first : inside.stop - first, 1:-1] = image[:, 0, inside]
    if first < 0:  # row -1: row 1 (mirror) or zeros
        strip[:, :, 0, 1:-1] = strip[:, :, 2, 1:-1] if reflect else 0
    if last > height:  # row H: row H - 2 (mirror) or zeros
        strip[:, :, -1, 1:-1] = strip[:, :, -3, 1:-1] if reflect else 0
    strip[..., 0] = strip[..., 2] if reflect else 0  # columns -1 and W, corners included
    strip[..., -1] = strip[..., -3] if reflect else 0
    return strip


def _strength(sx: Tensor, sy: Tensor) -> Tensor:
    """sqrt(sx^2 + sy^2): exact sums of squares for integer data, so equal strengths compare equal."""
    return torch.square(sx).addcmul_(sy, sy).sqrt_()


# conv2d(x, h, 'same') of the reference = correlation with the kernel rotated by 180 degrees: rot180 of
# [-1 0 1; -2 0 2; -1 0 1] and of [1 2 1; 0 0 0; -1 -2 -1] are the kernels of _sobel's sx and sy.

def _qabf_edges(padded: Tensor) -> tuple[Tensor, Tensor]:
    """Edge strength and orientation of (B, K, H, W) images zero-padded by 1 pixel (Sobel by convolution)."""
    sx, sy = _sobel(padded)
    strength = _strength(sx, sy)
    # atan(sy / sx), and pi/2 where sx = 0: there sy / sx is +-inf or NaN, all mapped to +inf (|sx| >= 1 elsewhere
    # for integer data; for other data a finite overflow would give +-pi/2 as atan of a huge ratio does).
    orientation = sy.div_(sx).nan_to_num_(nan=math.inf, posinf=math.inf, neginf=math.inf).atan_()
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
    if use_compiled(fused, ir, vis):
        return _compiled_ratios(fused, ir, vis, with_qabf=True, with_nabf=False)[0]
    return _ratio_over_strips(_qabf_map, (ir, vis, fused), reflect=False)


def _compiled_ratios(fused: Tensor, ir: Tensor, vis: Tensor, with_qabf: bool, with_nabf: bool) -> tuple[Tensor, Tensor]:
    """(Qabf, Nabf), each (B,) float64, from the compiled kernel, image by image (a metric not asked for is NaN)."""
    arrays = [image.detach()[:, 0].to(torch.float64).contiguous().numpy() for image in (ir, vis, fused)]  # (B, H, W)
    kernel = gradient_kernels().edge_sums
    per_image = [kernel(*(array[index] for array in arrays), with_qabf, with_nabf) for index in range(len(arrays[0]))]
    sums = torch.tensor(per_image, dtype=torch.float64, device=fused.device).reshape(-1, 4)  # (B, 4)
    return sums[:, 0] / sums[:, 1], sums[:, 2] / sums[:, 3]


def _ratio_over_strips(strip_map, images: tuple[Tensor, Tensor, Tensor], reflect: bool) -> Tensor:
    """sum(numerator) / sum(denominator) over the image, ``strip_map`` giving both maps for each padded row strip
    (zero-padded, or mirror-padded with ``reflect``); (B,) float64."""
    fused = images[2]
    numerator = torch.zeros(fused.shape[0], dtype=torch.float64, device=fused.device)
    denominator = torch.zeros_like(numerator)
    for rows in row_strips(fused):
        top, bottom = strip_map(_padded_strip(images, rows, reflect=reflect))
        numerator += top.sum(dim=(1, 2, 3))
        denominator += bottom.sum(dim=(1, 2, 3))
    return numerator / denominator


def _qabf_map(padded: Tensor) -> tuple[Tensor, Tensor]:
    """Q^{XF} g_X and g_X, each (B, 2, h, w), of zero-padded (B, 3, h + 2, W + 2) rows of A, B and F.

    In place where possible: every fresh tensor costs on a CPU.
    """
    c = QABF_CONSTANTS
    strength, orientation = _qabf_edges(padded)
    g_sources, g_fused = strength[:, :2], strength[:, 2:]
    a_sources, a_fused = orientation[:, :2], orientation[:, 2:]
    # G = min / max of (g_X, g_F), except g_F where they are equal (0/0 included)
    ratio = torch.minimum(g_sources, g_fused).div_(torch.maximum(g_sources, g_fused))
    ratio = torch.where(g_sources == g_fused, g_fused, ratio)
    # T / (1 + e^{k (x - D)}) = T sigmoid(-k (x - D)): one operation instead of four
    strength_term = ratio.sub_(c["Dg"]).mul_(-c["kg"]).sigmoid_().mul_(c["Tg"])
    angle = (a_sources - a_fused).abs_().div_(_HALF_PI).neg_().add_(1)  # A = 1 - |a_X - a_F| / (pi/2)
    angle_term = angle.sub_(c["Da"]).mul_(-c["ka"]).sigmoid_().mul_(c["Ta"])
    return strength_term.mul_(angle_term).mul_(g_sources), g_sources


# Nabf's Sobel: correlation (not convolution) with [-1 0 1; -2 0 2; -1 0 1] / 8 (gv) and
# [-1 -2 -1; 0 0 0; 1 2 1] / 8 (gh) after a 1-pixel mirror padding: gv = -sx / 8 and gh = sy / 8 of _sobel.
def _nabf_edges(padded: Tensor) -> tuple[Tensor, Tensor]:
    """Edge strength and orientation of (B, K, H, W) images mirror-padded by 1 pixel: Sobel / 8 by correlation."""
    sx, sy = _sobel(padded)
    strength = _strength(sx, sy).div_(8)  # exact: scaling by a power of 2
    # atan(gv / gh) = atan(-sx / sy): +-pi/2 where gh = 0, and 0 where gv = gh = 0 (0/0 = NaN -> 0)
    orientation = sx.neg_().div_(sy).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf).atan_()
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
    if use_compiled(fused, ir, vis):
        return _compiled_ratios(fused, ir, vis, with_qabf=False, with_nabf=True)[1]
    return _ratio_over_strips(_nabf_map, (ir, vis, fused), reflect=True)


def qabf_and_nabf(fused: Tensor, ir: Tensor, vis: Tensor) -> tuple[Tensor, Tensor]:
    """Qabf and Nabf of the same images (see :func:`qabf` and :func:`nabf`), computed together.

    The compiled kernel forms the Sobel responses once for both; the tensor path calls the two functions.

    Args:
        fused: tensor of shape (B, 1, H, W) with H, W >= 2, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        (Qabf, Nabf), each a tensor of shape (B,), float64.

    Example:
        >>> x = torch.tensor([[[[0.0, 0.0, 9.0, 9.0]] * 4]])
        >>> qabf_and_nabf(x, x, x)
        (tensor([0.9753], dtype=torch.float64), tensor([0.], dtype=torch.float64))
    """
    check_grey_images("qabf_and_nabf", min_size=2, fused=fused, ir=ir, vis=vis)
    if use_compiled(fused, ir, vis):
        return _compiled_ratios(fused, ir, vis, with_qabf=True, with_nabf=True)
    return qabf(fused, ir, vis), nabf(fused, ir, vis)


def _nabf_map(padded: Tensor) -> tuple[Tensor, Tensor]:
    """na (1 - Q^{XF}) w_X and w_X, each (B, 2, h, w), of mirror-padded (B, 3, h + 2, W + 2) rows of A, B and F.

    In place where possible: every fresh tensor costs on a CPU.
    """
    c = NABF_CONSTANTS
    strength, orientation = _nabf_edges(padded)
    g_sources, g_fused = strength[:, :2], strength[:, 2:]
    a_sources, a_fused = orientation[:, :2], orientation[:, 2:]
    # min / max, and 0 where g_X or g_F is 0: the minimum is then 0 (0/0 avoided by the clamp)
    ratio = torch.minimum(g_sources, g_fused).div_(torch.maximum(g_sources, g_fused).clamp_min_(1e-300))
    angle = (a_sources - a_fused).abs_().sub_(_HALF_PI).abs_().div_(_HALF_PI)
    # N / (1 + e^{-k (x - sigma)}) = N sigmoid(k (x - sigma)): one operation instead of four
    strength_term = ratio.sub_(c["sigma_g"]).mul_(c["kg"]).sigmoid_().mul_(c["Nrg"])
    angle_term = angle.sub_(c["sigma_a"]).mul_(c["ka"]).sigmoid_().mul_(c["Nra"])
    lost = strength_term.mul_(angle_term).sqrt_().neg_().add_(1)  # 1 - Q
    # w = g^Lg, Lg = 1.5, as g sqrt(g) (torch.pow is several times slower), where g >= T_d, else wt_min
    weights = torch.where(g_sources >= c["Td"], g_sources.sqrt().mul_(g_sources), c["wt_min"])
    artifacts = (g_fused > g_sources).all(dim=1, keepdim=True)  # (B, 1, h, w)
    return lost.mul_(weights).mul_(artifacts), weights
