"""The semantic loss of the semantic phase: pixel-wise cross-entropy, with classes optionally left out (Fig. 7)."""

import torch
import torch.nn.functional as F
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.constants import IGNORE_INDEX
from semfuse.errors import InputError

CLASS_WEIGHTINGS = ("none", "inverse_sqrt")


def exclude_classes(label: Tensor, excluded: tuple[int, ...] | list[int], ignore_index: int = IGNORE_INDEX) -> Tensor:
    """A copy of ``label`` (B, H, W) whose pixels of the ``excluded`` classes are set to ``ignore_index``."""
    if not excluded:
        return label
    mask = torch.isin(label, torch.as_tensor(list(excluded), device=label.device, dtype=label.dtype))
    return label.masked_fill(mask, ignore_index)


def class_weights(pixel_counts: Tensor, weighting: str = "inverse_sqrt") -> Tensor | None:
    """Cross-entropy class weights from the pixel count of each class in the training labels.

    ``inverse_sqrt``: ``w_k ∝ 1 / sqrt(f_k)`` with ``f_k`` the pixel frequency of class k, normalised so that the
    classes present have mean weight 1; a class with no pixel gets the largest weight of the others. ``none``: None
    (plain cross-entropy, the paper).

    Example:
        >>> class_weights(torch.tensor([81, 9, 0]))  # f = 0.9, 0.1 -> 1/sqrt(f) = 1.054, 3.162
        tensor([0.5000, 1.5000, 1.5000])
    """
    if weighting == "none":
        return None
    if weighting != "inverse_sqrt":
        raise InputError(f"unknown class weighting {weighting!r}; choose one of: {', '.join(CLASS_WEIGHTINGS)}")
    counts = pixel_counts.double()
    present = counts > 0
    if not present.any():
        raise InputError("class_weights needs at least one labelled pixel")
    weights = torch.zeros_like(counts)
    weights[present] = (counts[present] / counts.sum()).rsqrt()
    weights = weights / weights[present].mean()
    weights[~present] = weights[present].max()
    return weights.float()


def semantic_loss(
    logits: Tensor, label: Tensor, excluded: tuple[int, ...] | list[int] = (), ignore_index: int = IGNORE_INDEX,
    weight: Tensor | None = None,
) -> Tensor:
    """``L_sem``: cross-entropy over the labelled pixels; ``excluded`` classes and ``ignore_index`` pixels count not.

    Args:
        logits: (B, K, H, W) class scores at the label's resolution.
        label: (B, H, W) int64 class ids in [0, K), or ``ignore_index``.
        excluded: class ids treated as unlabelled (the paper's "w/o Car", "w/o Person", ...).
        weight: optional (K,) class weights (see :func:`class_weights`); the mean is then weighted, as in
            ``torch.nn.functional.cross_entropy``.

    Returns:
        The mean over the counted pixels; 0 (with a gradient path) when no pixel counts.

    Example:
        >>> logits = torch.zeros(1, 2, 1, 2)  # uniform over two classes
        >>> round(float(semantic_loss(logits, torch.tensor([[[0, 1]]]))), 4)  # ln 2
        0.6931
    """
    check_tensors("semantic_loss", {"logits": logits}, "(B, K, H, W)")
    if label.shape != (logits.shape[0], *logits.shape[2:]):
        raise InputError(f"semantic_loss expects logits (B, K, H, W) and label (B, H, W), got "
                         f"{tuple(logits.shape)} and {tuple(label.shape)}")
    label = exclude_classes(label, excluded, ignore_index)
    if not (label != ignore_index).any():
        return logits.sum() * 0.0
    if weight is not None:
        weight = weight.to(device=logits.device)
    return F.cross_entropy(logits, label, weight=weight, ignore_index=ignore_index)
