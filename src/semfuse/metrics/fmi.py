"""Feature mutual information (FMI, Haghighat's fast-FMI, ``analysis_fmi.m``) on pixels or DCT coefficients.

The reference code loops over every 3x3 window in MATLAB; here every window is a column of a (9, windows) tensor
and the code's loops over the 9 (or 9 x 9) entries become loops of elementwise operations over all windows at once.
Each operation is done in the reference code's order (column sums first for ``sum(sum())``, sequential sums
elsewhere, the same association of every product and difference), which matters where a window is flat: there
the Pearson correlation of the two uniform PDFs is rounding noise whose sign picks the joint-PDF branch.
"""

import math

import torch
from torch import Tensor

from semfuse.errors import InputError
from semfuse.metrics._checks import as_float64, check_grey_images

WINDOW = 3
_CHUNK = 1 << 16  # windows per pass: keeps the working set small


def _windows(image: Tensor) -> Tensor:
    """All valid 3x3 windows of (B, 1, H, W) as (9, B * (H-2) * (W-2)), entries in column-major order."""
    height, width = image.shape[-2] - 2, image.shape[-1] - 2
    entries = [image[:, 0, row : row + height, col : col + width] for col in range(3) for row in range(3)]
    return torch.stack(entries).reshape(9, -1)


def _normalise(patches: Tensor) -> Tensor:
    """Min-max normalise each window to [0, 1]; a constant window becomes all ones."""
    low, high = patches.min(dim=0).values, patches.max(dim=0).values
    flat = high == low
    scaled = (patches - low) / torch.where(flat, torch.ones_like(high), high - low)
    return torch.where(flat, torch.ones_like(patches), scaled)


def _sequential_sum(rows: Tensor) -> Tensor:
    total = rows[0]
    for row in rows[1:]:
        total = total + row
    return total


def _marginals(normalised: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """pdf, cdf, centred pdf, population standard deviation of the index, entropy; as the reference orders them."""
    columns = [(normalised[3 * c] + normalised[3 * c + 1]) + normalised[3 * c + 2] for c in range(3)]
    pdf = normalised / ((columns[0] + columns[1]) + columns[2])  # sum(sum(x)): column sums, then their sum
    running = [pdf[0]]
    for i in range(1, 9):
        running.append(pdf[i] + running[-1])  # sequential on every device, as the reference's loop
    cdf = torch.stack(running)
    centred = pdf - _sequential_sum(pdf) / 9
    first = torch.zeros_like(pdf[0])
    second = torch.zeros_like(pdf[0])
    for i in range(9):
        first = first + (i + 1) * pdf[i]
        second = second + (i + 1) ** 2 * pdf[i]
    deviation = torch.sqrt((second - first.square()).clamp_min(0))
    terms = torch.where(pdf != 0, -pdf * torch.log2(pdf.abs()), torch.zeros_like(pdf))
    return pdf, cdf, centred, deviation, _sequential_sum(terms)


def _upper(f: Tensor, x: Tensor) -> Tensor:
    """Frechet upper bound min(f, x), written as the reference code writes it."""
    return 0.5 * ((f + x) - (f - x).abs())


def _lower(f: Tensor, x: Tensor) -> Tensor:
    """Frechet lower bound max(f + x - 1, 0), written as the reference code writes it."""
    return 0.5 * (((f + x) - 1) + ((f + x) - 1).abs())


def _window_fmi(source: Tensor, fused: Tensor) -> Tensor:
    """fmi of each window pair (9, n) -> (n,): normalised mutual information of the Nelsen joint PDF."""
    x_pdf, x_cdf, x_centred, x_sd, x_entropy = _marginals(_normalise(source))
    f_pdf, f_cdf, f_centred, f_sd, f_entropy = _marginals(_normalise(fused))
    products = _sequential_sum(x_centred * f_centred)
    norms = _sequential_sum(x_centred * x_centred) * _sequential_sum(f_centred * f_centred)
    c = torch.where(products == 0, torch.zeros_like(products), products / norms.sqrt())
    positive = c >= 0

    # The Frechet bound each window uses (upper for c >= 0, lower for c < 0) at every (i, j) of the two CDFs.
    bounds = [
        [torch.where(positive, _upper(f_cdf[i], x_cdf[j]), _lower(f_cdf[i], x_cdf[j])) for j in range(9)]
        for i in range(9)
    ]
    covariance = torch.zeros_like(c)
    for i in range(9):
        for j in range(9):
            covariance = (covariance + bounds[i][j]) - f_cdf[i] * x_cdf[j]
    degenerate = (x_sd == 0) | (f_sd == 0) | (c == 0)
    weight = torch.where(degenerate, torch.zeros_like(c), c / (covariance / (f_sd * x_sd)))

    zero = torch.zeros_like(c)
    padded = [[zero] * 10] + [[zero] + row for row in bounds]  # padded[i + 1][j + 1] = bounds[i][j]; 0 before index 1
    order = [(0, 0)] + [(i, 0) for i in range(1, 9)] + [(0, j) for j in range(1, 9)]
    order += [(i, j) for i in range(1, 9) for j in range(1, 9)]
    joint_entropy = torch.zeros_like(c)
    for i, j in order:
        mass = ((padded[i + 1][j + 1] - padded[i][j + 1]) - padded[i + 1][j]) + padded[i][j]  # 2-D difference
        joint = weight * mass + ((1 - weight) * f_pdf[i]) * x_pdf[j]
        joint_entropy = joint_entropy + torch.where(joint != 0, -joint * torch.log2(joint.abs()), zero)

    information = (x_entropy + f_entropy) - joint_entropy
    return torch.where(information == 0, zero, 2 * information / (x_entropy + f_entropy))


def _fmi_windows(features: list[Tensor]) -> Tensor:
    """Mean over windows of (fmi_AF + fmi_BF) / 2 for features [A, B, F] of shape (B, 1, H, W): (B,)."""
    batch = features[0].shape[0]
    a, b, f = (_windows(feature) for feature in features)
    scores = []
    for start in range(0, a.shape[1], _CHUNK):
        a_part, b_part, f_part = (t[:, start : start + _CHUNK] for t in (a, b, f))
        a_equal = (a_part == f_part).all(dim=0)
        fmi_a = torch.where(a_equal, torch.ones_like(a_part[0]), _window_fmi(a_part, f_part))
        # Reference quirk: the A branch overwrote F's window with its normalised copy unless A's window equalled F's,
        # so the B branch's equality test sees the normalised F.
        f_seen = torch.where(a_equal, f_part, _normalise(f_part))
        b_equal = (b_part == f_seen).all(dim=0)
        fmi_b = torch.where(b_equal, torch.ones_like(b_part[0]), _window_fmi(b_part, f_part))
        scores.append((fmi_a + fmi_b) / 2)
    return torch.cat(scores).reshape(batch, -1).mean(dim=1)


def dct2(image: Tensor) -> Tensor:
    r"""Orthonormal 2-D DCT-II of each (H, W) plane (MATLAB ``dct2``, scipy ``dctn(type=2, norm='ortho')``).

    X[k, l] = a_k a_l \sum_{m, n} x[m, n] cos(pi (2m + 1) k / 2H) cos(pi (2n + 1) l / 2W), a_0 = sqrt(1/N),
    a_k = sqrt(2/N); computed as C_H x C_W^T with the DCT matrices in float64.

    Args:
        image: float64 tensor of shape (..., H, W).

    Returns:
        Tensor of the same shape.

    Example:
        >>> coefficients = dct2(torch.ones(1, 1, 2, 2, dtype=torch.float64))  # all energy in the DC coefficient
        >>> torch.allclose(coefficients, torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64), atol=1e-12)
        True
    """

    def matrix(n: int) -> Tensor:
        k = torch.arange(n, dtype=torch.float64, device=image.device)[:, None]
        m = torch.arange(n, dtype=torch.float64, device=image.device)[None, :]
        basis = torch.cos(math.pi * (2 * m + 1) * k / (2 * n)) * math.sqrt(2 / n)
        basis[0] = math.sqrt(1 / n)
        return basis

    return matrix(image.shape[-2]) @ image @ matrix(image.shape[-1]).T


def feature_mutual_information(fused: Tensor, ir: Tensor, vis: Tensor, feature: str = "pixel") -> Tensor:
    r"""Feature mutual information (FMI, Haghighat et al. 2011; fast-FMI 2014) with 3x3 windows.

    For every valid 3x3 window of the features (``"pixel"``: the 0-255 values; ``"dct"``: the whole image's
    orthonormal 2-D DCT, see :func:`dct2`) and each source X in {A, B}: fmi_XF = 1 if the windows are identical;
    otherwise both windows are min-max normalised (flat -> ones) and divided by their sums into 9-bin PDFs with
    CDFs, the joint PDF is Nelsen's mixture phi * Frechet bound + (1 - phi) * product (upper bound and
    phi = c / corr_up for a Pearson correlation c >= 0 of the PDFs, lower bound and theta = c / corr_lo for c < 0),
    MI = H(x) + H(f) - H(x, f) in bits, and fmi_XF = 2 MI / (H(x) + H(f)).

        FMI = mean over windows of (fmi_AF + fmi_BF) / 2

    Higher is better, at most 1. Reproduces ``analysis_fmi.m`` including its quirks (see docs/metrics.md).
    About 1.5 s per 640x480 image on a CPU core, so it is not in the default panel.

    Args:
        fused: tensor of shape (B, 1, H, W), H, W >= 3, values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.
        feature: ``"pixel"`` or ``"dct"``.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.tensor([[[[0.0, 5.0, 9.0], [2.0, 4.0, 6.0], [7.0, 1.0, 3.0]]]])
        >>> feature_mutual_information(x, x, x)  # every window is identical to the fused one
        tensor([1.], dtype=torch.float64)
    """
    check_grey_images("feature_mutual_information", min_size=WINDOW, fused=fused, ir=ir, vis=vis)
    if feature not in ("pixel", "dct"):
        raise InputError(f"feature_mutual_information supports feature 'pixel' or 'dct', got {feature!r}")
    images = [as_float64(ir), as_float64(vis), as_float64(fused)]
    if feature == "dct":
        images = [dct2(image) for image in images]
    return _fmi_windows(images)


def fmi_pixel(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """:func:`feature_mutual_information` on the raw pixels (``analysis_fmi(a, b, f, 'none', 3)``)."""
    return feature_mutual_information(fused, ir, vis, "pixel")


def fmi_dct(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """:func:`feature_mutual_information` on DCT coefficients (``analysis_fmi(a, b, f, 'dct', 3)``)."""
    return feature_mutual_information(fused, ir, vis, "dct")
