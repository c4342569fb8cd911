"""The semantic loss of the semantic phase: pixel-wise cross-entropy, with classes optionally left out (Fig. 7)."""

import torch
import torch.nn.functional as F
from torch import Tensor

from semfuse.constants import IGNORE_INDEX


def exclude_classes(label: Tensor, excluded: tuple[int, ...] | list[int], ignore_index: int = IGNORE_INDEX) -> Tensor:
    """A copy of ``label`` (B, H, W) whose pixels of the ``excluded`` classes are set to ``ignore_index``."""
    if not excluded:
        return label
    mask = torch.isin(label, torch.as_tensor(list(excluded), device=label.device, dtype=label.dtype))
    return label.masked_fill(mask, ignore_index)


def semantic_loss(
    logits: Tensor, label: Tensor, excluded: tuple[int, ...] | list[int] = (), ignore_index: int = IGNORE_INDEX
) -> Tensor:
    """``L_sem``: cross-entropy over the labelled pixels; ``excluded`` classes and ``ignore_index`` pixels count not.

    Args:
        logits: (B, K, H, W) class scores at the label's resolution.
        label: (B, H, W) int64 class ids in [0, K), or ``ignore_index``.
        excluded: class ids treated as unlabelled (the paper's "w/o Car", "w/o Person", ...).

    Returns:
        The mean over the counted pixels; 0 (with a gradient path) when no pixel counts.

    Example:
        >>> logits = torch.zeros(1, 2, 1, 2)  # uniform over two classes
        >>> round(float(semantic_loss(logits, torch.tensor([[[0, 1]]]))), 4)  # ln 2
        0.6931
    """
    if logits.dim() != 4 or label.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"semantic_loss expects logits (B, K, H, W) and label (B, H, W), got "
                         f"{tuple(logits.shape)} and {tuple(label.shape)}")
    label = exclude_classes(label, excluded, ignore_index)
    if not (label != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, label, ignore_index=ignore_index)
