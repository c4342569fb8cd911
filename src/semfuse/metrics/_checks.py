"""Input checks shared by the fusion metrics: every image is a real (B, 1, H, W) tensor on the 0-255 scale."""

import torch
from torch import Tensor


def check_grey_images(function: str, min_size: int = 1, **images: Tensor) -> None:
    """Raise if the named images are not (B, 1, H, W) real tensors of one shape and device, at least ``min_size``.

    Args:
        function: name of the calling metric, used in the messages.
        min_size: smallest height and width the metric can work with.
        images: the tensors to check, by argument name (e.g. ``fused=..., ir=...``).
    """
    first_name, first = None, None
    for name, image in images.items():
        if not isinstance(image, Tensor):
            raise TypeError(f"{function} expects {name} to be a torch.Tensor, got {type(image).__name__}")
        if image.dim() != 4 or image.shape[1] != 1:
            raise ValueError(f"{function} expects {name} of shape (B, 1, H, W), got {tuple(image.shape)}")
        if image.is_complex() or image.dtype == torch.bool:
            raise TypeError(f"{function} expects {name} with real values on the 0-255 scale, got dtype {image.dtype}")
        if first is None:
            first_name, first = name, image
            continue
        if image.shape != first.shape:
            raise ValueError(
                f"{function} expects {name} of the same shape as {first_name} {tuple(first.shape)}, "
                f"got {tuple(image.shape)}"
            )
        if image.device != first.device:
            raise ValueError(f"{function} expects {name} on {first.device} like {first_name}, got {image.device}")
    if first is not None and min(first.shape[-2:]) < min_size:
        raise ValueError(
            f"{function} needs images of at least {min_size}x{min_size} pixels, got shape {tuple(first.shape)}"
        )


def as_float64(image: Tensor) -> Tensor:
    """The image as float64 (the precision the reference MATLAB code computes in)."""
    return image.to(torch.float64)


def grey_levels(image: Tensor) -> Tensor:
    """The image as int64 grey levels 0..255: rounded to nearest and clipped, as saving it as uint8 would."""
    if image.dtype == torch.uint8:
        return image.to(torch.int64)
    image = image.to(torch.float64)
    if image.isnan().any():
        raise ValueError("a grey-level metric (EN, MI) got an image with NaN pixels; their grey levels are undefined")
    return image.round().clamp(0, 255).to(torch.int64)
