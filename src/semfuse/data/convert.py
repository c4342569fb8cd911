"""The caller's images (numpy arrays, PIL images, torch tensors) to float [0, 1] and back, for :mod:`semfuse.api`.

Values are read as :func:`semfuse.data.io.read_image` reads files, so the API and ``semfuse fuse`` see the same
numbers: uint8 / 255 and uint16 / 65535 in float32, a colour image with three equal channels is grey, and results
are rounded back with :func:`~semfuse.data.io.to_uint8`'s rounding (to nearest, ties to even).
:class:`ImageSpec` remembers what the caller gave, so the result can be given back in the same type, dtype, shape,
colour and device.

Example:
    >>> array, spec = read_numpy(np.full((2, 2, 3), 51, np.uint8), "vis")
    >>> array.shape, array.dtype, spec.replicate  # three equal channels: grey, given back as three
    ((2, 2), dtype('float32'), True)
    >>> spec.output(torch.full((1, 1, 2, 2), 0.6)).shape
    (2, 2, 3)
"""

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from semfuse.data.colour import BT601_LUMA
from semfuse.data.io import to_uint8
from semfuse.errors import InputError, InputTypeError

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_TO_RGB_MODES = ("RGBA", "RGBX", "CMYK", "YCbCr", "HSV", "LAB")
_TO_GREY_MODES = ("LA", "La", "1")
_FLOAT_DTYPES = (np.float16, np.float32, np.float64)


@dataclass(frozen=True)
class ImageSpec:
    """What a caller's image was, to give a result back alike.

    Attributes:
        kind: ``numpy``, ``pil`` or ``tensor``.
        dtype: the numpy dtype (``numpy``, ``pil``: uint8 or uint16) or torch dtype (``tensor``).
        replicate: the image had three equal channels and was read as grey: give three channels back.
        device: a tensor's device.
        batched: a tensor had a batch dimension (B, C, H, W) rather than (C, H, W).
    """

    kind: str
    dtype: object
    replicate: bool = False
    device: torch.device | None = None
    batched: bool = True

    def output(self, fused: Tensor) -> np.ndarray | Image.Image | Tensor:
        """The fused (B, 1|3, H, W) float [0, 1] tensor in the caller's type (numpy and PIL: B = 1)."""
        if self.replicate:
            fused = fused.expand(-1, 3, -1, -1)
        if self.kind == "tensor":
            return self._tensor(fused)
        array = fused[0].permute(1, 2, 0).numpy() if fused.shape[1] == 3 else fused[0, 0].numpy()  # (H, W[, 3])
        if self.dtype == np.uint8:
            array = to_uint8(array)
        elif self.dtype == np.uint16:
            array = np.clip(np.rint(np.asarray(array, dtype=np.float64) * 65535.0), 0, 65535).astype(np.uint16)
        else:
            array = np.ascontiguousarray(array, dtype=self.dtype)  # type: ignore[call-overload]
        return Image.fromarray(array) if self.kind == "pil" else array

    def _tensor(self, fused: Tensor) -> Tensor:
        if self.dtype == torch.uint8:
            result = torch.round(fused.double() * 255.0).clamp(0, 255).to(torch.uint8)
        else:
            result = fused.to(self.dtype)  # type: ignore[call-overload]
        result = result.to(self.device)
        return result if self.batched else result[0]

    def labels(self, labels: Tensor) -> np.ndarray | Tensor:
        """Class ids (B, H, W) in the form for this input: uint8 (H, W) numpy for numpy and PIL, else int64
        (B, H, W) (or (H, W)) on the input's device."""
        if self.kind != "tensor":
            return labels[0].cpu().numpy().astype(np.uint8)
        labels = labels.to(self.device)
        return labels if self.batched else labels[0]


def _pil_array(image: Image.Image, what: str) -> np.ndarray:
    """A PIL image as uint8 (H, W) / (H, W, 3) or uint16 (H, W), converted as :mod:`semfuse.data.io` does."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        array = np.asarray(image)
        if array.min(initial=0) < 0 or array.max(initial=0) > 65535:
            raise InputError(f"{what} is a 32-bit PIL image with values outside 0..65535; give an 8- or 16-bit image")
        return array.astype(np.uint16)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in _TO_RGB_MODES:
        image = image.convert("RGB")
    elif mode in _TO_GREY_MODES:
        image = image.convert("L")
    elif mode not in ("L", "RGB"):
        raise InputTypeError(f"{what} is a PIL image of mode {mode!r}; give an 8-bit (L, RGB) or 16-bit (I;16) one")
    return np.asarray(image)


def _check_range(low: float, high: float, what: str) -> None:
    if not (0.0 <= low and high <= 1.0):  # also False for NaN
        raise InputError(f"{what} holds float values from {low:g} to {high:g}; float images must be in [0, 1] "
                         "(divide 8-bit values by 255)")


def _float_array(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float64).astype(np.float32) / 65535.0
    if array.dtype in _FLOAT_DTYPES:
        if array.size:
            _check_range(float(array.min()), float(array.max()), what)
        return array.astype(np.float32)
    raise InputTypeError(f"{what} is a {array.dtype} array; give uint8, uint16 or float values in [0, 1]")


def read_numpy(image: object, what: str) -> tuple[np.ndarray, ImageSpec]:
    """A numpy array or PIL image as float32 (H, W) grey or (H, W, 3) RGB in [0, 1], and its :class:`ImageSpec`.

    Raises:
        InputTypeError: not an array or PIL image, or an unsupported dtype or mode.
        InputError: a shape other than (H, W) / (H, W, 3), an empty image, or float values outside [0, 1].
    """
    kind = "pil" if isinstance(image, Image.Image) else "numpy"
    if isinstance(image, Image.Image):
        image = _pil_array(image, what)
    if not isinstance(image, np.ndarray):
        raise InputTypeError(f"{what} is a {type(image).__name__}; give a numpy array, a PIL image or a torch tensor")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or 0 in image.shape:
        raise InputError(f"{what} has shape {image.shape}; give (H, W) grey or (H, W, 3) RGB")
    array = _float_array(image, what)
    replicate = array.ndim == 3 and bool((array[..., 0] == array[..., 1]).all() and (array[..., 0] == array[..., 2])
                                         .all())
    if replicate:
        array = np.ascontiguousarray(array[..., 0])
    return array, ImageSpec(kind, image.dtype.type, replicate)


def infrared_luminance(array: np.ndarray) -> np.ndarray:
    """A float infrared image as (H, W): grey as it is, RGB reduced to its BT.601 luminance (as
    :func:`semfuse.data.pairs.load_pair` reads a colour infrared file)."""
    if array.ndim == 2:
        return array
    red, green, blue = BT601_LUMA
    return (red * array[..., 0] + green * array[..., 1] + blue * array[..., 2]).astype(np.float32)


def read_tensor(image: object, what: str) -> tuple[Tensor, ImageSpec]:
    """A tensor (B, 1|3, H, W) or (1|3, H, W), uint8 or float in [0, 1], as float32 (B, 1|3, H, W) on its device
    (three equal channels read as one), and its :class:`ImageSpec`.

    Raises:
        InputTypeError: not a tensor, or an unsupported dtype.
        InputError: another shape, or float values outside [0, 1].
    """
    if not isinstance(image, Tensor):
        raise InputTypeError(f"{what} is a {type(image).__name__} but the other image is a tensor; give both as "
                             "torch tensors")
    batched = image.dim() == 4
    if image.dim() not in (3, 4) or image.shape[-3] not in (1, 3) or 0 in image.shape:
        raise InputError(f"{what} has shape {tuple(image.shape)}; give (B, 1|3, H, W) or (1|3, H, W)")
    batch = image if batched else image[None]
    if batch.dtype == torch.uint8:
        floats = batch.float() / 255.0
    elif batch.is_floating_point():
        _check_range(float(batch.min()), float(batch.max()), what)
        floats = batch.float()
    else:
        raise InputTypeError(f"{what} is a {batch.dtype} tensor; give uint8 or float values in [0, 1]")
    replicate = floats.shape[1] == 3 and bool((floats[:, :1] == floats[:, 1:]).all())
    if replicate:
        floats = floats[:, :1]
    return floats.contiguous(), ImageSpec("tensor", image.dtype, replicate, image.device, batched)


def infrared_luminance_tensor(ir: Tensor) -> Tensor:
    """(B, 1|3, H, W) float infrared -> (B, 1, H, W): RGB reduced to BT.601 luminance, as :func:`infrared_luminance`."""
    if ir.shape[1] == 1:
        return ir
    red, green, blue = BT601_LUMA
    return red * ir[:, 0:1] + green * ir[:, 1:2] + blue * ir[:, 2:3]


def stretch(fused: Tensor) -> Tensor:
    """Min-max stretch each image of a (B, C, H, W) batch to [0, 1], all channels together, as
    :func:`semfuse.inference.stretch_range` does; a constant image is left as it is."""
    low = fused.amin(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    high = fused.amax(dim=(1, 2, 3), keepdim=True)
    span = (high.double() - low.double()).float()  # in float64 first, as stretch_range's Python floats
    return torch.where(span > 0, (fused - low) / torch.where(span > 0, span, 1.0), fused)


def quantise(fused: Tensor) -> Tensor:
    """A float [0, 1] tensor as the 8-bit image written from it holds it, read back as float32 [0, 1]."""
    return torch.round(fused.double() * 255.0).clamp(0, 255).to(torch.uint8).float() / 255.0


def size_text(shape: tuple[int, ...]) -> str:
    """'WxH' of an (H, W, ...) shape."""
    return f"{shape[1]}x{shape[0]}"
