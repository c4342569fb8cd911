"""Mutual information (MI) between the fused image and each source, as ``MI_evaluation.m`` + ``Hab.m`` compute it."""

import torch
from torch import Tensor

from semfuse.metrics._checks import check_grey_images, grey_levels
from semfuse.metrics.compiled import per_image, statistics_kernels, use_compiled
from semfuse.metrics.statistics import grey_histogram, level_histogram, shannon_entropy


def joint_histogram(first: Tensor, second: Tensor) -> Tensor:
    """256 x 256 joint grey-level histogram with levels 254 and 255 merged, as ``Hab.m`` indexes it.

    ``Hab.m`` indexes with ``uint8(x) + 1``; uint8 arithmetic saturates, so levels 254 and 255 fall into one bin.
    Reproduced by clipping the levels at 254 (bin 255 stays empty).

    Args:
        first: tensor of shape (B, 1, H, W) on the 0-255 scale (row index of the histogram).
        second: tensor of the same shape (column index).

    Returns:
        Tensor of shape (B, 256 * 256), int64, row-major.
    """
    return _joint_counts(grey_levels(first).clamp(max=254), grey_levels(second).clamp(max=254))


def _joint_counts(rows: Tensor, columns: Tensor) -> Tensor:
    """(B, 256 * 256) counts of the int64 level pairs (rows[b, i], columns[b, i]) of (B, ...) tensors."""
    batch = rows.shape[0]
    index = (256 * rows.flatten(1)).add_(columns.flatten(1))  # (B, H*W)
    if batch > 1:
        index += 65536 * torch.arange(batch, device=rows.device)[:, None]
    return torch.bincount(index.flatten(), minlength=65536 * batch).view(batch, 65536)


def mutual_information_pair(source: Tensor, fused: Tensor) -> Tensor:
    r"""Mutual information in bits between one source and the fused image.

    MI(X, F) = H(X) + H(F) - H(F, X), with the marginal entropies of the 256-level histograms and the joint
    entropy of the 256 x 256 joint histogram (levels 254/255 merged, see :func:`joint_histogram`).

    Args:
        source: tensor of shape (B, 1, H, W) on the 0-255 scale.
        fused: tensor of the same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.tensor([[[[0, 0], [100, 100]]]])
        >>> mutual_information_pair(x, x)  # identical two-level images share 1 bit
        tensor([1.], dtype=torch.float64)
    """
    check_grey_images("mutual_information_pair", source=source, fused=fused)
    source_entropy = shannon_entropy(grey_histogram(source))
    fused_entropy = shannon_entropy(grey_histogram(fused))
    return source_entropy + fused_entropy - shannon_entropy(joint_histogram(fused, source))


def mutual_information(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    r"""Mutual information (MI) of a fusion, summed over the two sources, in bits (log2, 256 grey levels).

    MI = MI(A, F) + MI(B, F), each term as in :func:`mutual_information_pair`; A = infrared, B = visible.
    Higher is better. Symmetric in the two sources.

    Args:
        fused: tensor of shape (B, 1, H, W), values on the 0-255 scale (rounded to integer levels).
        ir: infrared image, same shape.
        vis: visible image, same shape.

    Returns:
        Tensor of shape (B,), float64.

    Example:
        >>> x = torch.tensor([[[[0, 0], [100, 100]]]])
        >>> mutual_information(x, x, x)
        tensor([2.], dtype=torch.float64)
    """
    check_grey_images("mutual_information", fused=fused, ir=ir, vis=vis)
    if use_compiled(fused, ir, vis):
        levels = [image if image.dtype == torch.uint8 else grey_levels(image).to(torch.uint8)
                  for image in (fused, ir, vis)]  # fmt: skip
        return per_image(statistics_kernels().mutual_information, *levels, dtype=torch.uint8)
    fused_levels = grey_levels(fused)
    fused_entropy = shannon_entropy(level_histogram(fused_levels))
    fused_rows = fused_levels.clamp(max=254)  # the joint histograms' merged top bin, as in joint_histogram
    total = torch.zeros_like(fused_entropy)
    for source in (ir, vis):
        source_levels = grey_levels(source)
        joint = shannon_entropy(_joint_counts(fused_rows, source_levels.clamp(max=254)))
        total = total + shannon_entropy(level_histogram(source_levels)) + fused_entropy - joint
    return total
