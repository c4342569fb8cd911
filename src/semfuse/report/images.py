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
from semfuse.segmentation import OVERLAY_ALPHA, blend, overlay

logger = logging.getLogger("semfuse.report")

BROWSER_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}
THUMBNAIL_SIDE = 256  # longest side of a thumbnail, pixels (sharp at 128 CSS px on a 2x screen)
THUMBNAIL_QUALITY = 80

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
    def copy(temporary: Path) -> None:
        shutil.copyfile(source, temporary)

    if browser_can_show(source):
        return atomic_write(target, copy, overwrite)
    image = open_as_8bit(source)
    return atomic_write(target, lambda temporary: image.save(temporary, "PNG"), overwrite)


def relative_url(path: Path, start: Path) -> str:
    """A URL for ``path`` relative to the folder ``start`` (forward slashes, each part percent-encoded)."""
    from urllib.parse import quote

    return "/".join(quote(part) for part in Path(os.path.relpath(path, start)).parts)


def overlay_files(prediction: Path, base: Path | None, alpha: float = OVERLAY_ALPHA) -> Image.Image:
    """A segmentation prediction file drawn over ``base`` (the fused image; None: on black), as
    :func:`semfuse.segmentation.overlay` draws it.

    ``prediction`` is a label image of class ids ('L'/'P'/16-bit: coloured with
    :func:`~semfuse.segmentation.class_colour`, class 0 left uncoloured) or an already coloured RGB image (blended as
    it is, black left uncoloured).
    """
    with Image.open(prediction) as image:
        image.load()
        coloured = image.mode in ("RGB", "RGBA")
        array = np.asarray(image.convert("RGB") if coloured else image)
    height, width = array.shape[:2]
    if base is not None and base.is_file():
        background = open_as_8bit(base).convert("RGB")
        if background.size != (width, height):
            background = background.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(background)
    else:
        pixels = np.zeros((height, width, 3), np.uint8)
    result = blend(pixels, array, array.max(axis=2) > 0, alpha) if coloured else overlay(pixels, array, alpha)
    return Image.fromarray(result, "RGB")


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
                image, made = job.make(), job.full or job.source
                atomic_write(made, lambda temporary: image.save(temporary, "JPEG", quality=90), overwrite)
                return write_thumbnail(made, job.thumbnail, overwrite)
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
