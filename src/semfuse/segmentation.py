"""Segmentation: predict label maps (whole image or sliding window), score them, draw them and write them.

The one home of what ``semfuse fuse --segment``, the semantic phase's validation, the protocol (``segeval``) and the
report share, so they cannot disagree on a window, a colour or a file format:

* :func:`predict` (and :func:`sliding_window_logits`): class ids of a (B, 3, H, W) image; the window and stride
  defaults are :data:`semfuse.constants.SEGMENTATION_WINDOW` and :data:`~semfuse.constants.SEGMENTATION_STRIDE`.
* :func:`score_segmenter`: the confusion matrix over samples, then Acc/IoU per class, mAcc and mIoU
  (:mod:`semfuse.metrics.segmentation`).
* :func:`class_colour` and :func:`overlay`: the field's MFNet palette and one blend of the classes over an image.
* :func:`write_label_png`: a label map as an 8-bit palette PNG whose pixel values are the class ids.
* :func:`segment_images`: ``fuse --segment``: ``OUT/labels/NAME.png`` and ``OUT/overlays/NAME.png`` per fused image.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from tqdm import tqdm

from semfuse.constants import IGNORE_INDEX, PNG_COMPRESS_LEVEL, SEGMENTATION_STRIDE, SEGMENTATION_WINDOW
from semfuse.data.io import read_image
from semfuse.errors import SemfuseError
from semfuse.files import atomic_write
from semfuse.metrics.segmentation import confusion_matrix, segmentation_scores

logger = logging.getLogger("semfuse.segmentation")

# Class colours of the MFNet/MSRS label set (unlabelled, car, person, bike, curve, car stop, guardrail, colour
# cone, bump), the colours papers of the field use for segmentation figures.
CLASS_COLOURS = np.array([[0, 0, 0], [64, 0, 128], [64, 64, 0], [0, 128, 192], [0, 0, 192], [128, 128, 0],
                          [64, 64, 128], [192, 128, 128], [192, 64, 0]], dtype=np.uint8)
OVERLAY_ALPHA = 0.55  # weight of the class colour where an overlay tints a labelled pixel


def class_colour(index: int) -> tuple[int, int, int]:
    """The colour of class ``index`` (beyond the nine listed: a fixed pseudo-random colour).

    Example:
        >>> class_colour(1)
        (64, 0, 128)
    """
    colour = CLASS_COLOURS[index] if index < len(CLASS_COLOURS) else np.random.default_rng(index).integers(40, 256, 3)
    red, green, blue = (int(value) for value in colour)
    return red, green, blue


def blend(image: np.ndarray, colours: np.ndarray, mask: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """uint8 (H, W, 3): ``image`` (uint8 (H, W) grey or (H, W, 3)) with the pixels of ``mask`` (H, W) mixed with
    ``colours`` (H, W, 3) as ``(1 - alpha) * image + alpha * colour``; the other pixels as they are."""
    result = (np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image).astype(np.float64)
    result[mask] = (1 - alpha) * result[mask] + alpha * colours[mask].astype(np.float64)
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, label: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """uint8 (H, W, 3): ``image`` (uint8 (H, W) or (H, W, 3)) with every labelled pixel of ``label`` (H, W class ids;
    background 0 and :data:`~semfuse.constants.IGNORE_INDEX` left as they are) tinted in its :func:`class_colour`.

    Example:
        >>> overlay(np.full((1, 2), 100, np.uint8), np.array([[0, 2]])).tolist()  # 0.45 * 100 + 0.55 * (64, 64, 0)
        [[[100, 100, 100], [80, 80, 45]]]
    """
    ids = np.clip(label.astype(np.int64), 0, None)
    table = np.array([class_colour(index) for index in range(int(ids.max(initial=0)) + 1)])
    return blend(image, table[ids], (ids > 0) & (ids != IGNORE_INDEX), alpha)


def write_label_png(path: Path, label: np.ndarray | Tensor, num_classes: int, overwrite: bool = False) -> Path:
    """Write a label map (H, W class ids < 256) as an 8-bit palette PNG: the pixel values are the class ids, shown
    in the :func:`class_colour` of the first ``num_classes`` ids (black beyond)."""
    ids = label.cpu().numpy() if isinstance(label, Tensor) else label
    image = Image.fromarray(ids.astype(np.uint8), mode="P")
    image.putpalette([value for k in range(256) for value in (class_colour(k) if k < num_classes else (0, 0, 0))])
    return atomic_write(path, lambda temporary: image.save(temporary, format="PNG"), overwrite)


def _window_starts(size: int, crop: int, stride: int) -> list[int]:
    """Window origins covering ``size`` with windows of ``crop`` every ``stride``; the last one flush with the end."""
    if size <= crop:
        return [0]
    starts = list(range(0, size - crop, stride))
    return starts + [size - crop]


def sliding_window_logits(segmenter: nn.Module, rgb: Tensor, window: Sequence[int] = SEGMENTATION_WINDOW,
                          stride: Sequence[int] = SEGMENTATION_STRIDE) -> Tensor:
    """Average the logits of overlapping ``window`` (height, width) crops, every ``stride``, over a (B, 3, H, W)
    image. Windows larger than the image shrink to it. Returns (B, K, H, W) float32."""
    height, width = rgb.shape[-2:]
    total, count = None, torch.zeros(1, 1, height, width, device=rgb.device)
    for top in _window_starts(height, window[0], stride[0]):
        for left in _window_starts(width, window[1], stride[1]):
            crop = (..., slice(top, top + window[0]), slice(left, left + window[1]))
            logits = segmenter(rgb[crop]).float()
            if total is None:
                total = torch.zeros(rgb.shape[0], logits.shape[1], height, width, device=rgb.device)
            total[crop] += logits
            count[crop] += 1
    assert total is not None  # _window_starts gives at least one window per axis
    return total / count


def predict(segmenter: nn.Module, rgb: Tensor, mode: str = "slide", window: Sequence[int] = SEGMENTATION_WINDOW,
            stride: Sequence[int] = SEGMENTATION_STRIDE) -> Tensor:
    """Class ids (B, H, W) of a (B, 3, H, W) image: ``mode`` ``whole`` (the image at once) or ``slide``
    (:func:`sliding_window_logits`)."""
    logits = segmenter(rgb) if mode == "whole" else sliding_window_logits(segmenter, rgb, window, stride)
    return logits.argmax(dim=1)


@torch.no_grad()
def score_segmenter(
    segmenter: nn.Module,
    samples: Iterable[tuple[Tensor, Tensor]],
    class_names: tuple[str, ...],
    mode: str = "slide",
    window: Sequence[int] = SEGMENTATION_WINDOW,
    stride: Sequence[int] = SEGMENTATION_STRIDE,
    on_prediction: Callable[[int, Tensor], object] | None = None,
) -> dict:
    """Acc/IoU per class, mAcc and mIoU (:func:`semfuse.metrics.segmentation.segmentation_scores`) of ``segmenter``
    over ``(rgb (1, 3, H, W), label (1, H, W))`` samples (see :func:`predict`); eval mode, then restored.

    ``class_names[i]`` names label id i; ``on_prediction(i, prediction (H, W))``, when given, sees the prediction
    of sample i (e.g. to write it with :func:`write_label_png`).
    """
    num_classes = len(class_names)
    training = segmenter.training
    segmenter.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for index, (rgb, label) in enumerate(samples):
        prediction = predict(segmenter, rgb, mode, window, stride).cpu()
        confusion += confusion_matrix(prediction, label, num_classes)
        if on_prediction is not None:
            on_prediction(index, prediction[0])
    segmenter.train(training)
    return segmentation_scores(confusion, tuple(class_names))


@torch.no_grad()
def segment_images(fused: list[Path], segmenter_path: str | Path, out_dir: str | Path, device: str = "cpu",
                   overwrite: bool = False, progress: bool = True) -> list[str]:
    """Segment every fused image file with the segmenter at ``segmenter_path`` (sliding window, as in validation);
    writes ``out_dir/labels/NAME.png`` (:func:`write_label_png`) and ``out_dir/overlays/NAME.png``
    (:func:`overlay`). Returns one message per failed image."""
    from semfuse.models.weights import load_segmenter, segmenter_classes

    names = segmenter_classes(segmenter_path)
    segmenter = load_segmenter(segmenter_path, device)
    out_dir, failed = Path(out_dir), []
    for path in tqdm(fused, desc="segmenting", unit="image", disable=not progress, dynamic_ncols=True):
        try:
            image = read_image(path)
            rgb = torch.from_numpy(image)
            rgb = rgb[None].expand(3, -1, -1) if rgb.dim() == 2 else rgb.permute(2, 0, 1)
            label = predict(segmenter, rgb[None].contiguous().to(device))[0].cpu().numpy().astype(np.uint8)
            tinted = Image.fromarray(overlay(np.rint(image * 255).astype(np.uint8), label))
            write_label_png(out_dir / "labels" / f"{path.stem}.png", label, len(names), overwrite)
            atomic_write(out_dir / "overlays" / f"{path.stem}.png",
                         lambda t: tinted.save(t, format="PNG", compress_level=PNG_COMPRESS_LEVEL), overwrite)
        except (SemfuseError, OSError, RuntimeError, ValueError) as error:
            message = f"{path.stem}: segmentation failed: {error}"
            logger.error(message)
            failed.append(message)
    logger.info("segmented %d image(s) into %s/labels and %s/overlays (classes: %s)", len(fused) - len(failed),
                out_dir, out_dir, ", ".join(names))
    return failed
