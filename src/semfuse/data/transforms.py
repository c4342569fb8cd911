"""Joint random transforms applied to the images and the label of a sample together (one geometry for all)."""

import math

import torch
import torch.nn.functional as F

from semfuse.constants import IGNORE_INDEX
from semfuse.data.colour import BT601_LUMA

IMAGE_KEYS = ("ir", "vis", "image")  # the image tensors a sample may hold; all share the label's geometry


def random_scale_crop_flip(
    sample: dict,
    crop: tuple[int, int],
    scale_range: tuple[float, float],
    hflip: bool,
    generator: torch.Generator,
) -> dict:
    """Rescale by a random factor, cut a random ``crop`` (height, width), flip horizontally with probability 1/2.

    The factor is drawn uniformly from ``scale_range`` and raised, if needed, so that the image covers the crop.
    Images are resized bilinearly, labels by nearest neighbour; every image of the sample gets the same geometry.

    Args:
        sample: float tensors among ``ir`` (1, H, W), ``vis`` (3, H, W), ``image`` (3, H, W), and ``label`` (H, W)
            int64.
        generator: the source of randomness (makes the draw reproducible).
    """
    keys = [key for key in IMAGE_KEYS if key in sample]
    images, label = [sample[key] for key in keys], sample["label"]
    height, width = label.shape
    crop_h, crop_w = crop
    low, high = scale_range
    factor = low + (high - low) * torch.rand((), generator=generator).item()
    factor = max(factor, crop_h / height, crop_w / width)
    new_h, new_w = max(crop_h, math.ceil(height * factor)), max(crop_w, math.ceil(width * factor))
    if (new_h, new_w) != (height, width):
        stacked = torch.cat(images)[None]  # (1, sum of channels, H, W)
        stacked = F.interpolate(stacked, size=(new_h, new_w), mode="bilinear", align_corners=False)[0].clamp(0, 1)
        images = list(stacked.split([image.shape[0] for image in images]))
        label = F.interpolate(label[None, None].float(), size=(new_h, new_w), mode="nearest")[0, 0].long()
    top = int(torch.randint(0, new_h - crop_h + 1, (), generator=generator))
    left = int(torch.randint(0, new_w - crop_w + 1, (), generator=generator))
    window = (..., slice(top, top + crop_h), slice(left, left + crop_w))
    images, label = [image[window] for image in images], label[window]
    if hflip and torch.rand((), generator=generator).item() < 0.5:
        images, label = [image.flip(-1) for image in images], label.flip(-1)
    return {**sample, **{key: image.contiguous() for key, image in zip(keys, images)}, "label": label.contiguous()}


def as_tensors(pair: dict) -> dict:
    """numpy pair from :func:`semfuse.data.pairs.load_pair` -> tensors: ``ir`` (1, H, W), ``vis`` (3, H, W) RGB
    (a grey visible image is repeated over the three channels), ``label`` (H, W) int64 (all 255 when unlabelled)."""
    ir = torch.from_numpy(pair["ir"])[None]
    vis = torch.from_numpy(pair["vis"])
    vis = vis[None].expand(3, -1, -1).clone() if vis.dim() == 2 else vis.permute(2, 0, 1).contiguous()
    label = pair["label"]
    label = torch.full(ir.shape[-2:], IGNORE_INDEX, dtype=torch.long) if label is None else torch.from_numpy(label)
    return {"name": pair["name"], "ir": ir, "vis": vis, "label": label}


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
            red, green, blue = BT601_LUMA
            grey = (red * image[0] + green * image[1] + blue * image[2])[None]
            image = grey + (image - grey) * _uniform(generator, 0.5, 1.5)
        out[key] = image.clamp(0.0, 1.0)
    return out
