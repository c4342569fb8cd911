"""The luminance contract every classical method keeps: what it accepts and what it returns.

Inputs are two float tensors ``ir`` and ``vis`` of one shape (B, 1, H, W) with values in [0, 1], on one device.
Any H, W >= 1 is accepted. The multi-scale methods compute in float64 and return the input's dtype, clamped to
[0, 1] (a multi-scale reconstruction can overshoot the range slightly near strong edges).
"""

import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError


def check_luminance_pair(ir: Tensor, vis: Tensor, method: str) -> None:
    """Raise a one-sentence error unless ``ir`` and ``vis`` are float tensors of one shape (B, 1, H, W).

    Args:
        ir: infrared luminance, (B, 1, H, W).
        vis: visible luminance, (B, 1, H, W).
        method: the method's name, used in the message.
    """
    check_tensors(method, {"ir": ir, "vis": vis}, values="float", scale="in [0, 1]", min_size=1)


def finish(fused: Tensor, like: Tensor) -> Tensor:
    """Clamp a working-precision result to [0, 1] and return it in the dtype of ``like``."""
    return fused.clamp(0.0, 1.0).to(like.dtype)


def working_copy(image: Tensor) -> Tensor:
    """``image`` in float64, the precision the multi-scale methods compute in."""
    return image.to(torch.float64)


def check_positive_int(value: int, option: str, method: str) -> None:
    """Raise unless the option ``value`` is an int >= 1 (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{method} needs {option} as an integer >= 1, got {value!r}")


def check_positive_float(value: float, option: str, method: str) -> None:
    """Raise unless the option ``value`` is a real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"{method} needs {option} as a number > 0, got {value!r}")
