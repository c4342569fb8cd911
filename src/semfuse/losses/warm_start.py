"""Warm-start loss (paper eq. 1): L1 between the fused image and a fixed fusion of the sources."""

import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError

WARM_START_TARGETS = ("avg", "max")


def warm_start_target(ir: Tensor, vis: Tensor, rule: str = "avg") -> Tensor:
    """The warm-start target: ``(ir + vis) / 2`` ("Ave", the paper's default) or ``max(ir, vis)`` ("Max")."""
    if rule == "avg":
        return (ir + vis) / 2
    if rule == "max":
        return torch.maximum(ir, vis)
    raise InputError(f"unknown warm-start rule {rule!r}; choose one of: {', '.join(WARM_START_TARGETS)}")


def warm_start_loss(fused: Tensor, ir: Tensor, vis: Tensor, rule: str = "avg") -> Tensor:
    """``L_WS = mean |fused - target(ir, vis)|`` over all pixels of the batch.

    Args:
        fused, ir, vis: tensors of one shape (B, 1, H, W) in [0, 1].
        rule: ``avg`` or ``max`` (see :func:`warm_start_target`).

    Example:
        >>> warm_start_loss(torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
        tensor(0.)
    """
    check_tensors("warm_start_loss", {"fused": fused, "ir": ir, "vis": vis}, "(...)")
    return (fused - warm_start_target(ir, vis, rule)).abs().mean()
