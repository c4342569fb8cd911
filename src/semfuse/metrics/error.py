"""Error metrics against the sources: mean squared error (MSE) and peak signal-to-noise ratio (PSNR)."""

import torch
from torch import Tensor

from semfuse.metrics._checks import as_float64, check_grey_images
from semfuse.metrics.compiled import per_image, statistics_kernels, use_compiled


def mean_squared_error(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Mean squared error (MSE, ``MSE_evaluation.m``) on the 0-1 scale, averaged over the two sources.

    MSE = 1/2 mean((F/255 - A/255)^2) + 1/2 mean((F/255 - B/255)^2), with A = infrared, B = visible.
    Lower is better.

    Args:
        fused: tensor of shape (B, 1, H, W), values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> zero, white = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 255.0)
        >>> mean_squared_error(zero, zero, white)  # (0 + 1) / 2
        tensor([0.5000], dtype=torch.float64)
    """
    check_grey_images("mean_squared_error", fused=fused, ir=ir, vis=vis)
    if use_compiled(fused, ir, vis):
        error = statistics_kernels().squared_error
        return per_image(lambda f, a, b: (error(f, a) + error(f, b)) / 2, fused, ir, vis)
    f = as_float64(fused) / 255
    errors = [(f - as_float64(source) / 255).square().mean(dim=(1, 2, 3)) for source in (ir, vis)]
    return (errors[0] + errors[1]) / 2


def peak_signal_to_noise_ratio(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Peak signal-to-noise ratio (PSNR, ``PSNR_evaluation.m``) in dB, with the reference code's peak of 255.

    PSNR = 20 log10( 255 / \sqrt{MSE} ), with MSE of :func:`mean_squared_error` on the **0-1** scale. The peak
    255 with a 0-1 MSE is the reference code's convention (fusion papers report these numbers); it is
    20 log10(255) = 48.13 dB above the textbook 10 log10(1 / MSE). Higher is better; identical images give inf.

    Args:
        fused: tensor of shape (B, 1, H, W), values on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> zero, white = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 255.0)
        >>> peak_signal_to_noise_ratio(zero, zero, white)  # 20 log10(255 / sqrt(0.5))
        tensor([51.1411], dtype=torch.float64)
    """
    check_grey_images("peak_signal_to_noise_ratio", fused=fused, ir=ir, vis=vis)
    return _psnr_of_mse(mean_squared_error(fused, ir, vis))


def _psnr_of_mse(mse: Tensor) -> Tensor:
    return 20 * torch.log10(255 / mse.sqrt())


def psnr_and_mse(fused: Tensor, ir: Tensor, vis: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`peak_signal_to_noise_ratio` and :func:`mean_squared_error` from one computation of the MSE.

    Example:
        >>> zero, white = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 255.0)
        >>> psnr_and_mse(zero, zero, white)
        (tensor([51.1411], dtype=torch.float64), tensor([0.5000], dtype=torch.float64))
    """
    mse = mean_squared_error(fused, ir, vis)
    return _psnr_of_mse(mse), mse
