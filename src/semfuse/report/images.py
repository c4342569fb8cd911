"""Images of the HTML report: thumbnails, full-size views and segmentation overlays under ``report_files/``.

Thumbnails are small JPEG files written beside the report (not embedded): a 400-pair × 8-method report has 4,000 of
them, which as data URIs would make a 30+ MB HTML file the browser must parse before showing anything; as files
the browser fetches only those on screen. Full-size images are linked where they are (relative to the report) and
loaded only when a view is zoomed; files a browser cannot show (TIFF, 16-bit) are converted to PNG once.
"""

import logging
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from semfuse.files import atomic_write

logger = logging.getLogger("semfuse.report")

BROWSER_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}
THUMBNAIL_SIDE = 256  # longest side of a thumbnail, pixels (sharp at 128 CSS px on a 2x screen)
THUMBNAIL_QUALITY = 80

# Class colours of the MFNet/MSRS label set (unlabelled, car, person, bike, curve, car stop, guardrail, colour
# cone, bump), the colours papers of the field use for segmentation figures.
CLASS_COLOURS = np.array([[0, 0, 0], [64, 0, 128], [64, 64, 0], [0, 128, 192], [0, 0, 192], [128, 128, 0],
                          [64, 64, 128], [192, 128, 128], [192, 64, 0]], dtype=np.uint8)


def class_colour(index: int) -> tuple[int, int, int]:
    """The colour of class ``index`` (beyond the nine listed: a fixed pseudo-random colour)."""
    if index < len(CLASS_COLOURS):
        return tuple(int(value) for value in CLASS_COLOURS[index])
    generator = np.random.default_rng(index)
    return tuple(int(value) for value in generator.integers(40, 256, 3))


def open_as_8bit(path: Path) -> Image.Image:
    """Open an image as 8-bit 'L' or 'RGB' (16-bit and float images are scaled by their bit depth)."""
    with Image.open(path) as image:
        image.load()
        if image.mode in ("L", "RGB"):
            return image.copy()
        if image.mode in ("I;16", "I;16L", "I;16B", "I"):
            array = np.asarray(image, dtype=np.float64)
            scale = 257.0 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 1.0
            return Image.fromarray(np.clip(np.rint(array / scale), 0, 255).astype(np.uint8), "L")
        if image.mode == "F":
            array = np.asarray(image, dtype=np.float64)
            scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
            return Image.fromarray(np.clip(np.rint(array * scale), 0, 255).astype(np.uint8), "L")
        return image.convert("RGB")


def write_thumbnail(source: Path, target: Path, overwrite: bool) -> tuple[int, int]:
    """Write a JPEG thumbnail (longest side :data:`THUMBNAIL_SIDE`) of ``source``; returns its (width, height)."""
    image = open_as_8bit(source)
    size = image.size
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    atomic_write(target, lambda temporary: image.save(temporary, "JPEG", quality=THUMBNAIL_QUALITY,
                                                      optimize=True), overwrite)
    return size


def browser_can_show(path: Path) -> bool:
    """Whether a browser shows ``path`` as it is (a PNG/JPEG/GIF/WebP/BMP file)."""
    return path.suffix.lower() in BROWSER_SUFFIXES


def full_size_suffix(source: Path) -> str:
    """The suffix of the full-size file the report shows for ``source``: its own, or .png after conversion."""
    return source.suffix.lower() if browser_can_show(source) else ".png"


def write_full_size(source: Path, target: Path, overwrite: bool) -> Path:
    """Copy ``source`` to ``target`` if a browser can show it, else write it there as an 8-bit PNG."""
    if browser_can_show(source):
        return atomic_write(target, lambda temporary: shutil.copyfile(source, temporary), overwrite)
    image = open_as_8bit(source)
    return atomic_write(target, lambda temporary: image.save(temporary, "PNG"), overwrite)


def relative_url(path: Path, start: Path) -> str:
    """A URL for ``path`` relative to the folder ``start`` (forward slashes, each part percent-encoded)."""
    from urllib.parse import quote

    return "/".join(quote(part) for part in Path(os.path.relpath(path, start)).parts)


def overlay(prediction: Path, base: Path | None, alpha: float = 0.55) -> Image.Image:
    """A segmentation prediction drawn over ``base`` (the fused image; None: on black).

    ``prediction`` is a label image of class ids ('L'/'P'/16-bit: coloured with :func:`class_colour`, class 0 left
    uncoloured) or an already coloured RGB image (blended as it is, black left uncoloured).
    """
    with Image.open(prediction) as image:
        image.load()
        if image.mode in ("RGB", "RGBA"):
            colours = np.asarray(image.convert("RGB"), dtype=np.float64)
            mask = colours.any(axis=2)
        else:
            ids = np.asarray(image).astype(np.int64)
            table = np.array([class_colour(index) for index in range(max(int(ids.max(initial=0)) + 1, 1))])
            colours = table[np.clip(ids, 0, None)].astype(np.float64)
            mask = (ids > 0) & (ids != 255)
    height, width = mask.shape
    if base is not None and base.is_file():
        background = open_as_8bit(base).convert("RGB")
        if background.size != (width, height):
            background = background.resize((width, height), Image.Resampling.BILINEAR)
        result = np.asarray(background, dtype=np.float64).copy()
    else:
        result = np.zeros((height, width, 3))
    result[mask] = (1 - alpha) * result[mask] + alpha * colours[mask]
    return Image.fromarray(np.clip(np.rint(result), 0, 255).astype(np.uint8), "RGB")


@dataclass
class ImageJob:
    """One image of the report: its source and where its thumbnail (and full-size copy, if any) go."""

    source: Path
    thumbnail: Path
    full: Path | None = None  # None: the page links the source itself
    make: Callable[[], Image.Image] | None = None  # builds the image instead of reading ``source`` (overlays)


def run_jobs(jobs: Iterable[ImageJob], overwrite: bool, workers: int | None = None) -> list[tuple[int, int] | None]:
    """Write every job's thumbnail (and full-size file), in threads; per job the source (width, height) or None
    when the source could not be read (the page then shows the image as missing)."""

    def one(job: ImageJob) -> tuple[int, int] | None:
        try:
            if job.make is not None:
                image = job.make()
                atomic_write(job.full, lambda temporary: image.save(temporary, "JPEG", quality=90), overwrite)
                return write_thumbnail(job.full, job.thumbnail, overwrite)
            size = write_thumbnail(job.source, job.thumbnail, overwrite)
            if job.full is not None:
                write_full_size(job.source, job.full, overwrite)
            return size
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            logger.warning("report: %s could not be shown (%s); it appears as missing", job.source, error)
            return None

    jobs = list(jobs)
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))
