"""Reading and writing images as float arrays in [0, 1].

Every reader returns ``float32`` arrays: (H, W) for a single channel, (H, W, 3) for colour.

* 8-bit images are divided by 255; 16-bit images (PNG/TIFF modes ``I;16*`` and ``I``) by 65535.
* Palette (``P``) images are expanded to their colours; alpha channels (``RGBA``, ``LA``) are dropped.
* A colour file whose three channels are identical (e.g. TNO's grey images stored as RGB) is grey.

Writes are atomic (a temporary file in the same folder, then a rename) and refuse to replace an existing file
unless ``overwrite=True``.
"""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from semfuse.errors import SemfuseError
from semfuse.files import atomic_write

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageReadError(SemfuseError, ValueError):
    """An image file is missing, unreadable or of an unsupported kind."""


def list_images(folder: str | Path) -> dict[str, Path]:
    """Map file stem -> path for every image in ``folder`` (not recursive), sorted by stem.

    Raises:
        ImageReadError: if ``folder`` is not a directory, or two images share a stem (e.g. ``a.png`` and ``a.jpg``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder} is not a folder; give a folder of images ({', '.join(IMAGE_EXTENSIONS)})")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        if path.stem in found:
            raise ImageReadError(
                f"{found[path.stem].name} and {path.name} in {folder} share the name {path.stem!r}; keep only one"
            )
        found[path.stem] = path
    return dict(sorted(found.items()))


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise ImageReadError(f"{path} does not exist")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise ImageReadError(f"{path} is not a readable image ({error})") from None
    return image


def _to_float(image: Image.Image, path: Path) -> np.ndarray:
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        return np.asarray(image, dtype=np.float64).astype(np.float32) / 65535.0
    if mode == "F":
        raise ImageReadError(f"{path} holds 32-bit float pixels; save it as an 8- or 16-bit image")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "RGBX", "CMYK", "YCbCr", "HSV", "LAB"):
        image = image.convert("RGB")
    elif mode in ("LA", "La", "1"):
        image = image.convert("L")
    elif mode not in ("L", "RGB"):
        raise ImageReadError(f"{path} has the unsupported pixel mode {mode!r}; save it as grey or RGB")
    return np.asarray(image, dtype=np.float32) / 255.0


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as float32 in [0, 1]: (H, W) if grey (including R = G = B colour files), else (H, W, 3)."""
    path = Path(path)
    array = _to_float(_open(path), path)
    if array.ndim == 3 and np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2]):
        array = np.ascontiguousarray(array[..., 0])
    return array


def read_label(path: str | Path) -> np.ndarray:
    """Read a segmentation label image of class ids as int64 (H, W); palette images give their indices."""
    path = Path(path)
    image = _open(path)
    if image.mode not in ("L", "P", "I", "I;16", "I;16L", "I;16B"):
        raise ImageReadError(
            f"{path} is a {image.mode} image; labels must be single-channel images of class ids (0..N-1, 255 = ignore)"
        )
    return np.asarray(image).astype(np.int64)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 with rounding to nearest (values outside [0, 1] are clipped)."""
    return np.clip(np.rint(np.asarray(array, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def write_image(path: str | Path, array: np.ndarray, overwrite: bool = False) -> Path:
    """Write a float [0, 1] (H, W) or (H, W, 3) array as an 8-bit image, atomically.

    Raises:
        SemfuseError: if ``path`` exists and ``overwrite`` is False.
    """
    image = Image.fromarray(to_uint8(array))
    image_format = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    return atomic_write(Path(path), lambda temporary: image.save(temporary, format=image_format), overwrite)
