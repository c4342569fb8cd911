"""Sliding-window patches of (B, 1, H, W) images and their overlap-averaged reassembly.

A patch of side p is stored as a vector of p * p values in row-major order (``F.unfold``'s order); the shipped
MST-SR dictionary's atoms use the same order. Windows start every ``step`` pixels and the last window of each
axis is always placed at the far edge, so every pixel is covered whatever the size and step.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError


def window_starts(size: int, patch: int, step: int) -> Tensor:
    """Start offsets 0, step, 2 * step, ... along an axis of ``size`` >= ``patch``, plus ``size - patch`` if missed."""
    if size < patch:
        raise InputError(f"window_starts needs size >= patch, got size {size} and patch {patch}")
    starts = list(range(0, size - patch + 1, step))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return torch.tensor(starts, dtype=torch.long)


def _window_columns(height: int, width: int, patch: int, step: int) -> Tensor:
    """Indices, among all stride-1 windows of an H x W image (row-major), of the windows on the step grid."""
    rows = window_starts(height, patch, step)
    cols = window_starts(width, patch, step)
    return (rows.unsqueeze(1) * (width - patch + 1) + cols.unsqueeze(0)).reshape(-1)


def extract_patches(image: Tensor, patch: int, step: int) -> Tensor:
    """All p x p windows of (B, 1, H, W) on the step grid, as (B, L, p * p) row-major vectors.

    Args:
        image: (B, 1, H, W) with H, W >= patch.
        patch: window side p.
        step: distance between window starts (>= 1).

    Example:
        >>> extract_patches(torch.arange(9.0).view(1, 1, 3, 3), patch=2, step=1)[0, 0].tolist()
        [0.0, 1.0, 3.0, 4.0]
    """
    check_tensors("extract_patches", {"image": image}, min_size=patch)
    columns = _window_columns(image.shape[-2], image.shape[-1], patch, step).to(image.device)
    windows = F.unfold(image, patch)  # (B, p * p, all stride-1 windows)
    return windows.index_select(2, columns).transpose(1, 2)  # (B, L, p * p)


def assemble_patches(patches: Tensor, size: tuple[int, int], patch: int, step: int) -> Tensor:
    """Put (B, L, p * p) patches from :func:`extract_patches` back, averaging where windows overlap.

    Returns:
        (B, 1, H, W) image; every pixel is covered by at least one window.
    """
    height, width = size
    columns = _window_columns(height, width, patch, step).to(patches.device)
    total = (height - patch + 1) * (width - patch + 1)
    if patches.shape[1] != columns.numel() or patches.shape[2] != patch * patch:
        raise InputError(
            f"assemble_patches got {tuple(patches.shape)}; a {height}x{width} image with patch {patch} and step {step} "
            f"has ({patches.shape[0]}, {columns.numel()}, {patch * patch})"
        )
    windows = patches.new_zeros(patches.shape[0], patch * patch, total)
    windows[:, :, columns] = patches.transpose(1, 2)
    summed = F.fold(windows, (height, width), patch)  # (B, 1, H, W)
    coverage = torch.zeros_like(windows[:1])
    coverage[:, :, columns] = 1.0
    return summed / F.fold(coverage, (height, width), patch)
