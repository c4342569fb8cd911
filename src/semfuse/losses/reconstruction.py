"""Reconstruction loss of the DenseFuse auto-encoder: ``L = L_p + λ L_ssim`` (Li & Wu 2019, eq. 1).

``L_p = mean((O − I)²)`` and ``L_ssim = 1 − SSIM(O, I)``, with SSIM the metric of
:func:`semfuse.metrics.structural.ssim_wang` (11x11 Gaussian window, σ 1.5, valid positions) on the 0–255 scale.
"""

from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.metrics.structural import ssim_wang


def reconstruction_loss(output: Tensor, target: Tensor, ssim_weight: float = 100.0) -> Tensor:
    """``mean((output − target)²) + ssim_weight · (1 − mean SSIM(output, target))``.

    Args:
        output, target: (B, 1, H, W) in [0, 1], H and W at least 11 (the SSIM window).
        ssim_weight: λ; DenseFuse trains with λ in {1, 10, 100, 1000}.
    """
    check_tensors("reconstruction_loss", {"output": output, "target": target})
    pixel = (output - target).square().mean()
    structural = 1.0 - ssim_wang(output * 255.0, target * 255.0).mean().to(output.dtype)
    return pixel + ssim_weight * structural
