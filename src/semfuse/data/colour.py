"""RGB <-> YCbCr conversion (ITU-R BT.601, full range, as JPEG and OpenCV's ``COLOR_RGB2YCrCb``).

With every channel in [0, 1]::

    Y  =  0.299    R + 0.587    G + 0.114    B
    Cb = -0.168736 R - 0.331264 G + 0.5      B + 0.5
    Cr =  0.5      R - 0.418688 G - 0.081312 B + 0.5

The inverse uses the exact inverse of this matrix (computed once in float64), so a round trip reproduces the input
to float precision. Fusion acts on Y only; Cb and Cr of the visible image are put back unchanged. A grey image
(R = G = B) has Cb = Cr = 0.5 and Y equal to its grey value, so grey in gives grey out.
"""

import torch
from torch import Tensor

from semfuse.checks import check_tensors

BT601_LUMA = (0.299, 0.587, 0.114)  # weights of R, G, B in the luminance Y

_RGB_TO_YCBCR = torch.tensor(
    [
        list(BT601_LUMA),
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ],
    dtype=torch.float64,
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_OFFSET = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """Convert RGB in [0, 1] to YCbCr in [0, 1] (BT.601 full range).

    Args:
        rgb: tensor of shape (..., 3, H, W), values in [0, 1].

    Returns:
        Tensor of the same shape with channels (Y, Cb, Cr).

    Example:
        >>> y = rgb_to_ycbcr(torch.ones(1, 3, 2, 2))[:, :1]  # white -> Y = 1
    """
    check_tensors("rgb_to_ycbcr", {"rgb": rgb}, "(..., 3, H, W)")
    matrix = _RGB_TO_YCBCR.to(rgb.device, rgb.dtype)
    offset = _OFFSET.to(rgb.device, rgb.dtype).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", matrix, rgb) + offset


def ycbcr_to_rgb(ycbcr: Tensor) -> Tensor:
    """Convert YCbCr (BT.601 full range, [0, 1]) back to RGB, clamped to [0, 1].

    Args:
        ycbcr: tensor of shape (..., 3, H, W) with channels (Y, Cb, Cr).

    Returns:
        RGB tensor of the same shape.
    """
    check_tensors("ycbcr_to_rgb", {"ycbcr": ycbcr}, "(..., 3, H, W)")
    matrix = _YCBCR_TO_RGB.to(ycbcr.device, ycbcr.dtype)
    offset = _OFFSET.to(ycbcr.device, ycbcr.dtype).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", matrix, ycbcr - offset).clamp(0.0, 1.0)


def luminance(rgb: Tensor) -> Tensor:
    """The Y channel of :func:`rgb_to_ycbcr`, shape (..., 1, H, W), the same values to the last bit (one row of the
    matrix instead of three: the Y of a 640x480 image in a fraction of the time; on some CPUs the sum is rounded
    differently, 1 ulp apart)."""
    check_tensors("luminance", {"rgb": rgb}, "(..., 3, H, W)")
    return torch.einsum("j,...jhw->...hw", _RGB_TO_YCBCR[0].to(rgb.device, rgb.dtype), rgb).unsqueeze(-3)


def restore_colour(fused_y: Tensor, visible_rgb: Tensor) -> Tensor:
    """Combine a fused luminance (..., 1, H, W) with the chroma of the visible RGB image (..., 3, H, W)."""
    chroma = rgb_to_ycbcr(visible_rgb)[..., 1:, :, :]
    return ycbcr_to_rgb(torch.cat([fused_y, chroma], dim=-3))
