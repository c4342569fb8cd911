"""The correlation regulariser of the semantic phase: ``L_reg = 1 / (Corr(ir, f) + Corr(vis, f))`` (paper, II.C)."""

import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError
from semfuse.metrics.correlation import row_correlation

CORRELATION_MODES = ("image", "batch")
CORRELATION_EPS = 1e-6
REGULARISER_FLOOR = 1e-3


def pearson_correlation(x: Tensor, y: Tensor, per_image: bool = True, eps: float = CORRELATION_EPS) -> Tensor:
    """Pearson correlation of ``x`` and ``y``.

    The metric's formula (:func:`semfuse.metrics.correlation.row_correlation`) in the inputs' dtype, with ``eps``
    under the square root: ``corr = Σ(x − x̄)(y − ȳ) / sqrt(Σ(x − x̄)² · Σ(y − ȳ)² + eps)``. ``eps`` keeps a constant
    image (zero variance) from dividing by zero: its correlation is then 0 instead of NaN.

    Args:
        x, y: tensors of one shape (B, C, H, W).
        per_image: True: one correlation per image, shape (B,); False: one over the whole batch, shape ().

    Example:
        >>> x = torch.rand(2, 1, 4, 4)
        >>> torch.allclose(pearson_correlation(x, 2 * x + 1), torch.ones(2), atol=1e-4)
        True
    """
    check_tensors("pearson_correlation", {"x": x, "y": y}, "(B, C, H, W)")
    if per_image:
        x, y = x.flatten(1), y.flatten(1)  # (B, C*H*W)
    else:
        x, y = x.reshape(1, -1), y.reshape(1, -1)  # (1, B*C*H*W)
    correlation = row_correlation(x, y, eps)
    return correlation if per_image else correlation[0]


def correlation_regulariser(
    fused: Tensor, ir: Tensor, vis: Tensor, mode: str = "image", eps: float = CORRELATION_EPS
) -> Tensor:
    """``L_reg = 1 / (Corr(ir, f) + Corr(vis, f))``, averaged over images (``mode="image"``, default) or computed once
    over the whole batch (``mode="batch"``, the authors' code).

    Guards: each correlation carries ``eps`` in its denominator (a constant image correlates 0, not NaN). Below
    :data:`REGULARISER_FLOOR` (1e-3) the sum ``s`` of the two correlations is not inverted: ``1/s`` is replaced by
    its tangent at the floor, ``2/floor − s/floor²``, which is finite for any ``s`` (no sign flip, no division by
    zero) and still pushes the correlations up. For any sensible fused image ``s`` is near 2 and the guard is idle.

    Args:
        fused, ir, vis: (B, 1, H, W) luminance tensors.
        mode: ``image`` or ``batch``.

    Example:
        >>> x = torch.rand(2, 1, 8, 8)
        >>> round(float(correlation_regulariser(x, x, x)), 4)  # 1 / (1 + 1)
        0.5
    """
    if mode not in CORRELATION_MODES:
        raise InputError(f"unknown correlation mode {mode!r}; choose one of: {', '.join(CORRELATION_MODES)}")
    per_image = mode == "image"
    total = pearson_correlation(ir, fused, per_image, eps) + pearson_correlation(vis, fused, per_image, eps)
    inverse = 1.0 / total.clamp(min=REGULARISER_FLOOR)
    tangent = 2.0 / REGULARISER_FLOOR - total / REGULARISER_FLOOR**2
    return torch.where(total > REGULARISER_FLOOR, inverse, tangent).mean()

