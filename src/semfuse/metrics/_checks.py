"""Input checks shared by the fusion metrics: every image is a real (B, 1, H, W) tensor on the 0-255 scale."""

import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError


def check_grey_images(function: str, min_size: int = 1, **images: Tensor) -> None:
    """Raise unless the named images are (B, 1, H, W) real tensors of one shape and device, at least ``min_size``.

    :func:`semfuse.checks.check_tensors` with the metrics' contract: the messages name the 0-255 scale.

    Args:
        function: name of the calling metric, used in the messages.
        min_size: smallest height and width the metric can work with.
        images: the tensors to check, by argument name (e.g. ``fused=..., ir=...``).
    """
    check_tensors(function, images, scale="on the 0-255 scale", min_size=min_size)


def as_float64(image: Tensor) -> Tensor:
    """The image as float64 (the precision the reference MATLAB code computes in)."""
    return image.to(torch.float64)


def grey_levels(image: Tensor) -> Tensor:
    """The image as int64 grey levels 0..255: rounded to nearest and clipped, as saving it as uint8 would."""
    if image.dtype == torch.uint8:
        return image.to(torch.int64)
    image = image.to(torch.float64)
    if image.isnan().any():
        raise InputError("a grey-level metric (EN, MI) got an image with NaN pixels; their grey levels are undefined")
    return image.round().clamp(0, 255).to(torch.int64)
