"""Joint random transforms applied to infrared, visible and label together (same geometry for all three)."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = 255


def random_scale_crop_flip(
    sample: dict,
    crop: tuple[int, int],
    scale_range: tuple[float, float],
    hflip: bool,
    generator: torch.Generator,
) -> dict:
    """Rescale by a random factor, cut a random ``crop`` (height, width), flip horizontally with probability 1/2.

    The factor is drawn uniformly from ``scale_range`` and raised, if needed, so that the image covers the crop.
    Images are resized bilinearly, labels by nearest neighbour.

    Args:
        sample: ``ir`` (1, H, W), ``vis`` (3, H, W) float tensors and ``label`` (H, W) int64 tensor.
        generator: the source of randomness (makes the draw reproducible).
    """
    ir, vis, label = sample["ir"], sample["vis"], sample["label"]
    height, width = ir.shape[-2:]
    crop_h, crop_w = crop
    low, high = scale_range
    factor = low + (high - low) * torch.rand((), generator=generator).item()
    factor = max(factor, crop_h / height, crop_w / width)
    new_h, new_w = max(crop_h, math.ceil(height * factor)), max(crop_w, math.ceil(width * factor))
    if (new_h, new_w) != (height, width):
        images = torch.cat([ir, vis])[None]
        images = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False)[0].clamp(0, 1)
        ir, vis = images[:1], images[1:]
        label = F.interpolate(label[None, None].float(), size=(new_h, new_w), mode="nearest")[0, 0].long()
    top = int(torch.randint(0, new_h - crop_h + 1, (), generator=generator))
    left = int(torch.randint(0, new_w - crop_w + 1, (), generator=generator))
    window = (..., slice(top, top + crop_h), slice(left, left + crop_w))
    ir, vis, label = ir[window], vis[window], label[window]
    if hflip and torch.rand((), generator=generator).item() < 0.5:
        ir, vis, label = ir.flip(-1), vis.flip(-1), label.flip(-1)
    return {**sample, "ir": ir.contiguous(), "vis": vis.contiguous(), "label": label.contiguous()}


def as_tensors(pair: dict) -> dict:
    """numpy pair from :func:`semfuse.data.pairs.load_pair` -> tensors: ``ir`` (1, H, W), ``vis`` (3, H, W) RGB
    (a grey visible image is repeated over the three channels), ``label`` (H, W) int64 (all 255 when unlabelled)."""
    ir = torch.from_numpy(pair["ir"])[None]
    vis = torch.from_numpy(pair["vis"])
    vis = vis[None].expand(3, -1, -1).clone() if vis.dim() == 2 else vis.permute(2, 0, 1).contiguous()
    label = pair["label"]
    label = torch.full(ir.shape[-2:], IGNORE_INDEX, dtype=torch.long) if label is None else torch.from_numpy(label)
    return {"name": pair["name"], "ir": ir, "vis": vis, "label": label}


def as_batch_tensor(x: Tensor) -> Tensor:
    """(C, H, W) -> (1, C, H, W); (B, C, H, W) unchanged."""
    return x[None] if x.dim() == 3 else x


def _maybe(generator: torch.Generator) -> bool:
    return torch.rand((), generator=generator).item() < 0.5


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def random_photometric(sample: dict, generator: torch.Generator) -> dict:
    """Photometric distortion drawn independently for each modality (mmsegmentation's, on [0, 1] data).

    Each with probability 1/2: brightness shift in [-32, 32] / 255, contrast factor in [0.5, 1.5], and for a colour
    visible image a saturation factor in [0.5, 1.5]. Geometry and labels are untouched.
    """
    out = dict(sample)
    for key in ("ir", "vis"):
        image = sample[key]
        if _maybe(generator):
            image = image + _uniform(generator, -32 / 255, 32 / 255)
        if _maybe(generator):
            image = image * _uniform(generator, 0.5, 1.5)
        if key == "vis" and _maybe(generator):
            grey = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]
            image = grey + (image - grey) * _uniform(generator, 0.5, 1.5)
        out[key] = image.clamp(0.0, 1.0)
    return out
