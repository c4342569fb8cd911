"""Segment fused images with a jointly trained segmenter: label maps (index PNGs) and colour overlays.

``semfuse fuse --segment`` uses this after fusing: each fused image ``OUT/NAME.png`` gets ``OUT/labels/NAME.png``
(8-bit palette PNG whose pixel values are the class ids, coloured by the class palette) and
``OUT/overlays/NAME.png`` (the fused image with every non-background class tinted in its colour).
"""

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from semfuse.data.io import read_image
from semfuse.engine.validation import sliding_window_logits
from semfuse.errors import SemfuseError
from semfuse.files import atomic_write

logger = logging.getLogger("semfuse.segment")

# class id -> RGB; id 0 (background / unlabelled) is black. MFNet-like order for the first classes.
PALETTE = ((0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128))
OVERLAY_ALPHA = 0.5


def segmenter_beside(weights: str | Path | None) -> Path:
    """The segmenter that belongs to fusion weights: ``segmenter.safetensors`` in the same folder (training runs),
    or ``<stem>_segmenter.safetensors`` beside a bundled or renamed file."""
    from semfuse.models.weights import resolve_weights

    path = resolve_weights(weights)
    for candidate in (path.with_name(f"{path.stem}_segmenter.safetensors"), path.with_name("segmenter.safetensors")):
        if candidate.is_file():
            return candidate
    raise SemfuseError(f"no segmenter belongs to the weights {path.name}: --segment needs semantically trained "
                       "weights (e.g. --weights semantic-msrs-boxes) or --segmenter FILE")


def colour_of(class_id: int) -> tuple[int, int, int]:
    return PALETTE[class_id] if class_id < len(PALETTE) else PALETTE[1 + (class_id - 1) % (len(PALETTE) - 1)]


def overlay(image: np.ndarray, label: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) image with non-background pixels blended (alpha 0.5) with their class colour."""
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    rgb = rgb.astype(np.float32)
    colours = np.array([colour_of(k) for k in range(int(label.max()) + 1)], dtype=np.float32)
    tinted = (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours[label]
    return np.where((label > 0)[..., None], tinted, rgb).round().clip(0, 255).astype(np.uint8)


def _palette_image(label: np.ndarray, num_classes: int) -> Image.Image:
    image = Image.fromarray(label.astype(np.uint8), mode="P")
    flat = [value for k in range(256) for value in (colour_of(k) if k < num_classes else (0, 0, 0))]
    image.putpalette(flat)
    return image


@torch.no_grad()
def segment_images(fused: list[Path], segmenter_path: str | Path, out_dir: str | Path, device: str = "cpu",
                   overwrite: bool = False, progress: bool = True,
                   window: tuple[int, int] = (240, 320), stride: tuple[int, int] = (120, 160)) -> list[str]:
    """Segment every fused image file with the segmenter at ``segmenter_path`` (sliding window, as in validation);
    writes ``out_dir/labels/NAME.png`` and ``out_dir/overlays/NAME.png``. Returns one message per failed image."""
    from semfuse.models.weights import load_segmenter, segmenter_classes

    names = segmenter_classes(segmenter_path)
    segmenter = load_segmenter(segmenter_path, device)
    out_dir, failed = Path(out_dir), []
    for path in tqdm(fused, desc="segmenting", unit="image", disable=not progress, dynamic_ncols=True):
        try:
            image = read_image(path)
            rgb = torch.from_numpy(image)
            rgb = rgb[None].expand(3, -1, -1) if rgb.dim() == 2 else rgb.permute(2, 0, 1)
            logits = sliding_window_logits(segmenter, rgb[None].contiguous().to(device), window, stride)
            label = logits.argmax(dim=1)[0].cpu().numpy().astype(np.uint8)
            pixels = np.rint(image * 255).astype(np.uint8)
            labels_png = _palette_image(label, len(names))
            overlay_png = Image.fromarray(overlay(pixels, label))
            atomic_write(out_dir / "labels" / f"{path.stem}.png", lambda t: labels_png.save(t, format="PNG"), overwrite)
            atomic_write(out_dir / "overlays" / f"{path.stem}.png", lambda t: overlay_png.save(t, format="PNG"),
                         overwrite)
        except (SemfuseError, OSError, RuntimeError, ValueError) as error:
            message = f"{path.stem}: segmentation failed: {error}"
            logger.error(message)
            failed.append(message)
    logger.info("segmented %d image(s) into %s/labels and %s/overlays (classes: %s)", len(fused) - len(failed),
                out_dir, out_dir, ", ".join(names))
    return failed
