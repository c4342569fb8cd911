"""Reading and writing images as float arrays in [0, 1].

Every reader returns ``float32`` arrays: (H, W) for a single channel, (H, W, 3) for colour.

* 8-bit images are divided by 255; 16-bit images (PNG/TIFF modes ``I;16*`` and ``I``) by 65535.
* Palette (``P``) images are expanded to their colours; alpha channels (``RGBA``, ``LA``) are dropped; CMYK is
  converted to RGB.
* A colour file whose three channels are identical (e.g. TNO's grey images stored as RGB) is grey.
* An EXIF orientation tag (JPEG, TIFF, PNG eXIf) is applied: the image is read upright, as viewers show it, and
  what semfuse writes from it is upright with no orientation tag.

Hostile files fail with :class:`ImageReadError` (one line, naming the file) before any pixel is decoded when they can:
the header's size is checked against a pixel limit (:data:`DEFAULT_MAX_PIXELS`, changed with :func:`set_max_pixels`,
the ``--max-pixels`` option), so a decompression bomb costs a header read; empty, truncated, damaged and non-image
files (e.g. an HTML page saved as ``.png``), folders and symbolic links that point nowhere are named as such.
docs/reliability.md lists every case.

Writes are atomic (a temporary file in the same folder, then a rename) and refuse to replace an existing file
unless ``overwrite=True``.
"""

import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from semfuse.constants import DEFAULT_MAX_PIXELS, PNG_COMPRESS_LEVEL
from semfuse.errors import SemfuseError
from semfuse.files import atomic_write

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_EXIF_ORIENTATION = 0x0112
_max_pixels = DEFAULT_MAX_PIXELS
_pil_limit_lock = threading.Lock()


class ImageReadError(SemfuseError, ValueError):
    """An image file is missing, unreadable or of an unsupported kind."""


def set_max_pixels(limit: int | None) -> None:
    """Set the largest image (width x height) the readers accept; None restores :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        SemfuseError: if ``limit`` is not a positive integer.
    """
    global _max_pixels
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise SemfuseError(f"the pixel limit must be a positive whole number, got {limit!r}")
    _max_pixels = DEFAULT_MAX_PIXELS if limit is None else limit


def get_max_pixels() -> int:
    """The largest image (width x height, in pixels) the readers accept now."""
    return _max_pixels


def list_images(folder: str | Path) -> dict[str, Path]:
    """Map file stem -> path for every image in ``folder`` (not recursive), sorted by stem.

    Hidden files (names starting with '.', such as the temporary files of an interrupted :func:`atomic_write` or
    macOS ``._NAME`` files) are not images. A symbolic link that points nowhere is listed, so that reading it
    reports it instead of its pair silently losing a partner.

    Raises:
        ImageReadError: if ``folder`` is not a directory, or two images share a stem (e.g. ``a.png`` and ``a.jpg``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder} is not a folder; give a folder of images ({', '.join(IMAGE_EXTENSIONS)})")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or path.name.startswith("."):
            continue
        if not path.is_file() and not (path.is_symlink() and not path.exists()):
            continue
        if path.stem in found:
            raise ImageReadError(
                f"{found[path.stem].name} and {path.name} in {folder} share the name {path.stem!r}; keep only one"
            )
        found[path.stem] = path
    return dict(sorted(found.items()))


def _describe_non_image(path: Path) -> str:
    """Why ``path`` is not an image, from its first bytes: 'is empty', 'is a text/HTML file', or a damage note."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head:
        return "is empty (0 bytes), not a readable image"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg", b"{", b"[")):
        return "is a text file (HTML, XML or JSON), not a readable image; save the image itself"
    if b"\0" not in head and all(byte >= 32 or byte in b"\t\r\n" for byte in head):
        return "is a text file, not a readable image"
    return "is not a readable image (unknown or damaged format)"


def open_image(path: str | Path, limit: int | None = None) -> Image.Image:
    """Open and decode an image file, upright (EXIF orientation applied), after checking its size.

    The size in the header is checked against ``limit`` (default :func:`get_max_pixels`) before any pixel is decoded.

    Raises:
        ImageReadError: one line naming ``path``: missing, a folder, a link to nothing, empty, not an image, over
            the pixel limit (with its size), truncated or damaged.
    """
    path = Path(path)
    limit = _max_pixels if limit is None else limit
    image = _open_header(path)
    width, height = image.size
    if width * height > limit:
        image.close()
        raise ImageReadError(
            f"{path} is {width}x{height} = {width * height:,} pixels, over the limit of {limit:,} "
            "(a decompression bomb or a huge image); raise --max-pixels if it is genuine"
        )
    if width < 1 or height < 1:
        image.close()
        raise ImageReadError(f"{path} has no pixels ({width}x{height})")
    try:
        image.load()
        if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        return image
    except MemoryError:
        image.close()
        raise ImageReadError(
            f"{path} ({width}x{height}) does not fit in memory; lower --max-pixels to skip such files or free memory"
        ) from None
    except Exception as error:  # truncated data: OSError; damaged streams: SyntaxError, ValueError, zlib.error, ...
        image.close()
        raise ImageReadError(_damage(path, error)) from None


def _open_header(path: Path) -> Image.Image:
    """The image file at ``path`` opened, its header read and no pixel decoded; ImageReadError if it cannot be."""
    if path.is_symlink() and not path.exists():
        raise ImageReadError(f"{path} is a symbolic link to {path.readlink()}, which does not exist; fix or remove it")
    if path.is_dir():
        raise ImageReadError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise ImageReadError(f"{path} does not exist")
    try:
        with _pil_limit_lock:  # semfuse's own limit below replaces Pillow's global decompression-bomb check
            pil_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path)  # reads the header only
            finally:
                Image.MAX_IMAGE_PIXELS = pil_limit
    except UnidentifiedImageError:
        raise ImageReadError(f"{path} {_describe_non_image(path)}") from None
    except OSError as error:
        if error.errno is not None:  # the operating system's: permission denied, I/O error, ...
            raise ImageReadError(f"{path} could not be read ({error.strerror or error})") from None
        raise ImageReadError(_damage(path, error)) from None
    except Exception as error:  # a damaged header makes decoders raise SyntaxError, struct.error, ValueError, ...
        raise ImageReadError(_damage(path, error)) from None
    return image


def _damage(path: Path, error: Exception) -> str:
    """The message for a file a decoder gave up on: truncated (cut short) or damaged."""
    kind = "truncated" if "truncated" in str(error).lower() else "damaged"
    return f"{path} is {kind} ({type(error).__name__}: {error}); re-copy or re-export the file"


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


def read_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as float32 in [0, 1]: (H, W) if grey (including R = G = B colour files), else (H, W, 3).

    Raises:
        ImageReadError: see :func:`open_image`; ``max_pixels`` (default: :func:`get_max_pixels`) bounds width x height.
    """
    path = Path(path)
    array = _to_float(open_image(path, max_pixels), path)
    if array.ndim == 3 and all(np.array_equal(array[..., 0], array[..., channel]) for channel in (1, 2)):
        array = np.ascontiguousarray(array[..., 0])
    return array


def read_label(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read a segmentation label image of class ids as int64 (H, W); palette images give their indices.

    Raises:
        ImageReadError: see :func:`open_image`, or the file is not single-channel.
    """
    path = Path(path)
    image = open_image(path, max_pixels)
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
    options = {"compress_level": PNG_COMPRESS_LEVEL} if image_format == "PNG" else {}
    return atomic_write(Path(path), lambda temporary: image.save(temporary, format=image_format, **options), overwrite)
