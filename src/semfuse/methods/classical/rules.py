"""Coefficient selection rules shared by the multi-scale methods.

Both rules are symmetric in their inputs: where the two sources are equally active the coefficients are averaged,
so ``rule(a, b) == rule(b, a)``.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError


def choose_max_abs(a: Tensor, b: Tensor) -> Tensor:
    """Per coefficient, the one of larger magnitude; the mean of the two where the magnitudes tie.

    Args:
        a, b: coefficient tensors of one shape (any).

    Example:
        >>> choose_max_abs(torch.tensor([1.0, -3.0, 2.0]), torch.tensor([-2.0, 1.0, -2.0]))
        tensor([-2., -3.,  0.])
    """
    check_tensors("choose_max_abs", {"a": a, "b": b}, "(...)")
    magnitude_a, magnitude_b = a.abs(), b.abs()
    return torch.where(magnitude_a > magnitude_b, a, torch.where(magnitude_b > magnitude_a, b, (a + b) / 2))


def choose_max_abs_consistent(a: Tensor, b: Tensor, window: int = 3) -> Tensor:
    """Max-abs selection with window-based consistency verification (Li, Manjunath & Mitra 1995).

    Activity of a coefficient is the largest magnitude in its ``window`` x ``window`` neighbourhood; each position
    votes +1 for ``a`` (more active), -1 for ``b`` or 0 (tie); a coefficient is taken from the source that wins the
    vote summed over its neighbourhood (a majority filter of the decision map), and averaged where the vote is 0.
    Neighbourhoods are truncated at the border.

    Args:
        a, b: coefficient bands of one shape (B, 1, H, W).
        window: odd neighbourhood side, 3 in Li et al. and in Liu et al.'s MST-SR code.

    Returns:
        Fused band (B, 1, H, W).
    """
    check_tensors("choose_max_abs_consistent", {"a": a, "b": b})
    if window < 1 or window % 2 == 0:
        raise InputError(f"choose_max_abs_consistent needs an odd window >= 1, got {window}")
    radius = window // 2
    activity_a = F.max_pool2d(a.abs(), window, stride=1, padding=radius)
    activity_b = F.max_pool2d(b.abs(), window, stride=1, padding=radius)
    vote = torch.sign(activity_a - activity_b)
    ones = torch.ones(1, 1, window, window, dtype=vote.dtype, device=vote.device)
    majority = F.conv2d(vote, ones, padding=radius)  # (B, 1, H, W), zero padding = truncated window
    return torch.where(majority > 0, a, torch.where(majority < 0, b, (a + b) / 2))
