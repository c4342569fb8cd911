"""Validation of the semantic phase: fuse each test pair whole, segment the fused RGB image, score mIoU."""

from collections.abc import Sequence

import torch
from torch import nn
from tqdm import tqdm

from semfuse.constants import SEGMENTATION_STRIDE, SEGMENTATION_WINDOW
from semfuse.data.colour import luminance, restore_colour
from semfuse.data.datasets import PairedDataset
from semfuse.segmentation import score_segmenter


@torch.no_grad()
def validate_semantic_phase(
    fusion_net: nn.Module,
    segmenter: nn.Module,
    pairs: PairedDataset,
    class_names: tuple[str, ...],
    mode: str = "slide",
    crop: Sequence[int] = SEGMENTATION_WINDOW,
    stride: Sequence[int] = SEGMENTATION_STRIDE,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict:
    """Scores of ``segmenter`` on the fused images of ``pairs``: each pair is fused whole by ``fusion_net``, the
    visible chroma restored, and the RGB result segmented (see :func:`semfuse.segmentation.score_segmenter`)."""
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
