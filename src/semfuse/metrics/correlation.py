"""Correlation metrics: the correlation coefficient (CC) and the sum of the correlations of differences (SCD).

:func:`row_correlation` is the one Pearson formula in semfuse: the metrics here and the correlation regulariser
(:mod:`semfuse.losses.correlation`) build on it.
"""

import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.metrics._checks import as_float64, check_grey_images
from semfuse.metrics.compiled import per_image, statistics_kernels, use_compiled


def row_correlation(x: Tensor, y: Tensor, eps: float = 0.0) -> Tensor:
    r"""Pearson correlation of each row of ``x`` with the same row of ``y``, in their dtype; differentiable.

    corr = \sum (x - \bar x)(y - \bar y) / \sqrt{ \sum (x - \bar x)^2 \sum (y - \bar y)^2 + eps }.
    With ``eps = 0`` a constant row gives NaN (MATLAB ``corr2``); ``eps > 0`` makes it 0 instead (the loss's guard).

    Args:
        x: tensor of shape (N, D), N rows of D values.
        y: tensor of the same shape.
        eps: added under the square root.

    Returns:
        Tensor of shape (N,).

    Example:
        >>> row_correlation(torch.tensor([[1.0, 2.0, 4.0]]), torch.tensor([[2.0, 4.0, 8.0]]))
        tensor([1.])
    """
    check_tensors("row_correlation", {"x": x, "y": y}, "(N, D)")
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    return (x * y).sum(dim=1) / torch.sqrt((x * x).sum(dim=1) * (y * y).sum(dim=1) + eps)


def pearson_correlation(x: Tensor, y: Tensor) -> Tensor:
    r"""Pearson correlation over all pixels of each image (MATLAB ``corr2``).

    corr(X, Y) = \sum (X - \bar X)(Y - \bar Y) / \sqrt{ \sum (X - \bar X)^2 \sum (Y - \bar Y)^2 }.
    A constant image has no defined correlation: the result is NaN, as in MATLAB.

    Args:
        x: tensor of shape (B, 1, H, W).
        y: tensor of the same shape.

    Returns:
        Tensor of shape (B,), float64, in [-1, 1].

    Example:
        >>> x = torch.tensor([[[[1.0, 2.0, 3.0]]]])
        >>> pearson_correlation(x, -2 * x)
        tensor([-1.], dtype=torch.float64)
    """
    check_grey_images("pearson_correlation", x=x, y=y)
    return row_correlation(as_float64(x).flatten(1), as_float64(y).flatten(1))  # (B, H*W) rows


def correlation_coefficient(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Correlation coefficient (CC, ``CC_evaluation.m``): the mean of the two source correlations.

    CC = ( corr(A, F) + corr(B, F) ) / 2, with A = infrared, B = visible. Higher is better; scale-free.

    Args:
        fused: tensor of shape (B, 1, H, W).
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64, in [-1, 1].

    Example:
        >>> x = torch.tensor([[[[1.0, 2.0, 3.0]]]])
        >>> correlation_coefficient(x, x, -x)  # (1 + (-1)) / 2
        tensor([0.], dtype=torch.float64)
    """
    check_grey_images("correlation_coefficient", fused=fused, ir=ir, vis=vis)
    if use_compiled(fused, ir, vis):
        correlation = statistics_kernels().correlation
        return per_image(lambda f, a, b: (correlation(a, a, f, False) + correlation(b, b, f, False)) / 2,
                         fused, ir, vis)  # fmt: skip
    return (pearson_correlation(ir, fused) + pearson_correlation(vis, fused)) / 2


def sum_of_correlations_of_differences(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Sum of the correlations of differences (SCD, Aslantas & Bendes; ``analysis_SCD.m``).

    SCD = corr(F - B, A) + corr(F - A, B), with A = infrared, B = visible: what the fused image adds to one source
    should correlate with the other source. Range [-2, 2], higher is better, invariant to scaling all three images.

    Args:
        fused: tensor of shape (B, 1, H, W).
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> a = torch.tensor([[[[0.0, 1.0, 0.0, 1.0]]]])
        >>> b = torch.tensor([[[[0.0, 0.0, 1.0, 1.0]]]])
        >>> sum_of_correlations_of_differences(a + b, a, b)  # F - B = A and F - A = B
        tensor([2.], dtype=torch.float64)
    """
    check_grey_images("sum_of_correlations_of_differences", fused=fused, ir=ir, vis=vis)
    if use_compiled(fused, ir, vis):
        correlation = statistics_kernels().correlation
        return per_image(lambda f, a, b: correlation(f, b, a, True) + correlation(f, a, b, True), fused, ir, vis)
    f, a, b = as_float64(fused), as_float64(ir), as_float64(vis)
    return pearson_correlation(f - b, a) + pearson_correlation(f - a, b)
