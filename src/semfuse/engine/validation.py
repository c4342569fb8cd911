"""Validation of the semantic phase: fuse each test pair whole, segment the fused RGB image, score mIoU."""

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from semfuse.data.colour import luminance, restore_colour
from semfuse.data.datasets import PairedDataset
from semfuse.metrics.segmentation import confusion_matrix, segmentation_scores


def _window_starts(size: int, crop: int, stride: int) -> list[int]:
    """Window origins covering ``size`` with windows of ``crop`` every ``stride``; the last one flush with the end."""
    if size <= crop:
        return [0]
    starts = list(range(0, size - crop, stride))
    return starts + [size - crop]


def sliding_window_logits(segmenter: nn.Module, rgb: Tensor, crop: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    """Average the logits of overlapping ``crop`` windows (every ``stride``) over a (B, 3, H, W) image.

    Windows larger than the image shrink to it. Returns (B, K, H, W).
    """
    height, width = rgb.shape[-2:]
    total, count = None, torch.zeros(1, 1, height, width, device=rgb.device)
    for top in _window_starts(height, crop[0], stride[0]):
        for left in _window_starts(width, crop[1], stride[1]):
            window = (..., slice(top, top + crop[0]), slice(left, left + crop[1]))
            logits = segmenter(rgb[window]).float()
            if total is None:
                total = torch.zeros(rgb.shape[0], logits.shape[1], height, width, device=rgb.device)
            total[window] += logits
            count[window] += 1
    return total / count


@torch.no_grad()
def score_segmenter(
    segmenter: nn.Module,
    samples: Iterable[tuple[Tensor, Tensor]],
    class_names: tuple[str, ...],
    mode: str = "slide",
    crop: tuple[int, int] = (240, 320),
    stride: tuple[int, int] = (120, 160),
) -> dict:
    """Acc/IoU per class, mAcc and mIoU (:func:`semfuse.metrics.segmentation.segmentation_scores`) of ``segmenter``
    over ``(rgb (1, 3, H, W), label (1, H, W))`` samples, whole-image or sliding-window; eval mode, then restored.
    ``class_names[i]`` names label id i."""
    num_classes = len(class_names)
    training = segmenter.training
    segmenter.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for rgb, label in samples:
        logits = segmenter(rgb) if mode == "whole" else sliding_window_logits(segmenter, rgb, crop, stride)
        confusion += confusion_matrix(logits.argmax(dim=1).cpu(), label, num_classes)
    segmenter.train(training)
    return segmentation_scores(confusion, tuple(class_names))


@torch.no_grad()
def validate_semantic_phase(
    fusion_net: nn.Module,
    segmenter: nn.Module,
    pairs: PairedDataset,
    class_names: tuple[str, ...],
    mode: str = "slide",
    crop: tuple[int, int] = (240, 320),
    stride: tuple[int, int] = (120, 160),
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict:
    """Scores of ``segmenter`` on the fused images of ``pairs``: each pair is fused whole by ``fusion_net``, the
    visible chroma restored, and the RGB result segmented (see :func:`score_segmenter`)."""
    training = fusion_net.training
    fusion_net.eval()

    def fused_samples():
        for index in tqdm(range(len(pairs)), desc="validating", unit="pair", disable=not progress, leave=False):
            sample = pairs[index]
            ir, vis = sample["ir"][None].to(device), sample["vis"][None].to(device)
            yield restore_colour(fusion_net(ir, luminance(vis)), vis), sample["label"][None]

    scores = score_segmenter(segmenter, fused_samples(), class_names, mode, crop, stride)
    fusion_net.train(training)
    return scores
