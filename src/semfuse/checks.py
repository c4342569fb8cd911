"""One input check for every public function that takes tensors: type, layout, dtype, one shape, one device, size.

Each message names the function, the argument and what it received, e.g.
``ssim_wang expects x of shape (B, 1, H, W), got (64, 64)``. The errors are :class:`semfuse.errors.InputError`
(a ``ValueError``) and :class:`semfuse.errors.InputTypeError` (a ``TypeError``), so the command line prints them as
one line.
"""

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor

from semfuse.errors import InputError, InputTypeError

GREY = "(B, 1, H, W)"  # the layout of a batch of grey (luminance) images

# What each dtype rule accepts, as the messages say it, and the error for a dtype it refuses: a complex or bool
# tensor is not an image at all (a TypeError); an integer one where floats are expected is on the wrong scale.
Values = Literal["real", "float"]
VALUES: dict[str, tuple[str, type[InputError] | type[InputTypeError]]] = {
    "real": ("real values", InputTypeError),
    "float": ("float values", InputError),
}


def layout_matches(shape: tuple[int, ...], layout: str) -> bool:
    """Whether ``shape`` fits ``layout``: letters are any size, digits that size, a leading ``...`` any dims.

    Example:
        >>> layout_matches((2, 1, 8, 8), "(B, 1, H, W)"), layout_matches((2, 3, 8, 8), "(B, 1, H, W)")
        (True, False)
        >>> layout_matches((3, 4, 5), "(..., 3, H, W)"), layout_matches((4, 5), "(..., 3, H, W)")
        (True, False)
    """
    fields = [field.strip() for field in layout.strip("()").split(",")]
    leading = fields[0] == "..."
    if leading:
        fields = fields[1:]
    if len(shape) < len(fields) or (not leading and len(shape) != len(fields)):
        return False
    tail = shape[len(shape) - len(fields):]
    return all(not field.isdigit() or size == int(field) for field, size in zip(fields, tail))


def check_tensors(
    function: str, tensors: Mapping[str, Tensor], layout: str = GREY, *, values: Values = "real", scale: str = "",
    same_shape: bool = True, min_size: int = 0,
) -> None:
    """Raise unless each named tensor fits ``layout`` with ``values``, all of one shape and device, big enough.

    Args:
        function: name of the calling function, used in the messages.
        tensors: the tensors to check, by argument name (e.g. ``{"fused": fused, "ir": ir}``).
        layout: the expected shape, e.g. ``"(B, 1, H, W)"`` or ``"(..., 3, H, W)"`` (see :func:`layout_matches`).
        values: ``"real"`` (any dtype but complex and bool) or ``"float"`` (floating point only).
        scale: the value range the function expects, as the dtype message says it (e.g. ``"on the 0-255 scale"``).
        same_shape: whether every tensor must have the first one's shape (and all must share its device always).
        min_size: smallest height and width (the last two dims) the function can work with; 0: no limit.

    Example:
        >>> check_tensors("my_metric", {"x": torch.zeros(1, 1, 4, 4), "y": torch.zeros(1, 1, 4, 5)})
        Traceback (most recent call last):
        ...
        semfuse.errors.InputError: my_metric expects y of the same shape as x (1, 1, 4, 4), got (1, 1, 4, 5)
    """
    first_name, first = "", None
    for name, tensor in tensors.items():
        _check_one(function, layout, values, scale, name, tensor)
        if first is None:
            first_name, first = name, tensor
            continue
        if same_shape and tensor.shape != first.shape:
            raise InputError(f"{function} expects {name} of the same shape as {first_name} {tuple(first.shape)}, "
                             f"got {tuple(tensor.shape)}")
        if tensor.device != first.device:
            raise InputError(f"{function} expects {name} on {first.device} like {first_name}, got {tensor.device}")
    for tensor in tensors.values():
        if min_size > 0 and min(tensor.shape[-2:]) < min_size:
            raise InputError(f"{function} needs images of at least {min_size}x{min_size} pixels, "
                             f"got shape {tuple(tensor.shape)}")


def _check_one(function: str, layout: str, values: Values, scale: str, name: str, tensor: Tensor) -> None:
    """Raise unless ``tensor`` is a tensor that fits ``layout`` with ``values`` (see :func:`check_tensors`)."""
    if not isinstance(tensor, Tensor):
        raise InputTypeError(f"{function} expects {name} to be a torch.Tensor, got {type(tensor).__name__}")
    if not layout_matches(tuple(tensor.shape), layout):
        raise InputError(f"{function} expects {name} of shape {layout}, got {tuple(tensor.shape)}")
    refused = not tensor.is_floating_point() if values == "float" else tensor.is_complex() or tensor.dtype == torch.bool
    if refused:
        described, error = VALUES[values]
        raise error(f"{function} expects {name} with {' '.join(filter(None, (described, scale)))}, "
                    f"got dtype {tensor.dtype}")
