"""Pixel-wise baselines: the average and the maximum of the two luminances.

These are the two fixed targets of the paper's warm start (Wu et al., IEEE SPL 2023, eq. 1: "Ave", and the
"Max" ablation of Table II), and the oldest fusion rules there are.
"""

import torch
from torch import Tensor

from semfuse.methods.classical.contract import check_luminance_pair
from semfuse.methods.registry import FuseFn, register_method

WARM_START_REFERENCE = "Wu, Liu, Liu, Fan, Liu, IEEE Signal Processing Letters 2023, eq. 1 (warm-start target)"


def average_fuse(ir: Tensor, vis: Tensor) -> Tensor:
    """``(ir + vis) / 2``, computed in the inputs' dtype (bit-identical to the warm-start target).

    Args:
        ir, vis: luminance tensors of one shape (B, 1, H, W) in [0, 1].

    Returns:
        Tensor (B, 1, H, W) in [0, 1].

    Example:
        >>> average_fuse(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).unique()
        tensor([0.5000])
    """
    check_luminance_pair(ir, vis, "average")
    return (ir + vis) / 2


def max_fuse(ir: Tensor, vis: Tensor) -> Tensor:
    """Element-wise ``max(ir, vis)``.

    Args:
        ir, vis: luminance tensors of one shape (B, 1, H, W) in [0, 1].

    Returns:
        Tensor (B, 1, H, W) in [0, 1].
    """
    check_luminance_pair(ir, vis, "max")
    return torch.maximum(ir, vis)


@register_method("average", "pixel-wise mean (ir + vis) / 2", WARM_START_REFERENCE + ', "Ave"')
def average_method() -> FuseFn:
    """Factory of :func:`average_fuse` (no options)."""
    return average_fuse


@register_method("max", "pixel-wise maximum max(ir, vis)", WARM_START_REFERENCE + ', "Max" ablation (Table II)')
def max_method() -> FuseFn:
    """Factory of :func:`max_fuse` (no options)."""
    return max_fuse
