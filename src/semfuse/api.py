"""The Python API: fuse, segment and score infrared/visible images from numpy, PIL or torch.

``semfuse fuse`` is a user of this module: it builds its method with :func:`load`, and both fuse through one core
(:func:`semfuse.inference.fuse_tensors`), so a uint8 result here equals the PNG the command writes, bit for bit.

Accepted images (the result comes back in the visible image's type):

* numpy arrays (H, W) grey or (H, W, 3) RGB, uint8, uint16 or float in [0, 1];
* PIL images of any 8-bit mode (``L``, ``RGB``, ``RGBA``, ``P`` ...) or 16-bit grey (``I;16``, ``I``): the result
  is ``L``, ``RGB`` or ``I;16``;
* torch tensors (B, 1|3, H, W) or (1|3, H, W), uint8 or float in [0, 1], on any device: the result is on that
  device, of that dtype and shape.

Pixels are computed in float32 (a float64 input comes back as float64 holding float32 values); uint8 and uint16
results are rounded to nearest. Grey in gives grey out; a colour visible image gives colour out (its BT.601
luminance fused, its chroma restored). A colour image whose three channels are equal is fused as grey (as
``semfuse fuse`` reads such files) and returned with three equal channels. A colour infrared image is reduced to
its BT.601 luminance.

Example:
    >>> import numpy as np, semfuse
    >>> fuser = semfuse.load(method="average", device="cpu")
    >>> fuser(np.zeros((2, 2), np.uint8), np.full((2, 2, 3), 200, np.uint8))[0, 0].tolist()
    [100, 100, 100]
"""

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from semfuse.data import convert
from semfuse.device import resolve_device
from semfuse.errors import InputError, SemfuseError
from semfuse.inference import fuse_tensors
from semfuse.methods import FuseFn, get_method
from semfuse.names import BUNDLED_WEIGHTS, METHODS, bundled_weights_of
from semfuse.registry import UnknownNameError

if TYPE_CHECKING:
    from semfuse.models.segmenter import Segmenter

__all__ = ["Fuser", "evaluate", "fuse", "list_methods", "list_weights", "load", "segment"]

# An image or a batch as the API takes and returns it: numpy, PIL, a tensor (B, C, H, W), or a list of pairs' images
Images = np.ndarray | Image.Image | Tensor | Sequence[np.ndarray | Image.Image]

class Fuser:
    """A fusion method, loaded once, that fuses pairs in the caller's image type (build it with :func:`load`).

    Attributes:
        method: the fusion method's name (:func:`list_methods`).
        weights: the weights it runs (a bundled name or a file), None for the method's default or no weights.
        device: where the method runs.
        fuse_fn: the method itself, a :data:`~semfuse.methods.FuseFn` on (B, 1, H, W) luminance tensors.
        stretch: whether each fused image is min-max stretched (:func:`semfuse.inference.stretch_range`).

    Example:
        >>> import numpy as np, semfuse
        >>> fuser = semfuse.load(method="max", device="cpu")
        >>> fuser(np.array([[0.25, 0.75]]), np.array([[0.5, 0.125]])).tolist()
        [[0.5, 0.75]]
    """

    def __init__(self, method: str, weights: str | Path | None, device: torch.device, fuse_fn: FuseFn,
                 stretch: bool = False, segmenter: str | Path | None = None):
        self.method = method
        self.weights = weights
        self.device = device
        self.fuse_fn = fuse_fn
        self.stretch = stretch
        self._segmenter_weights = segmenter
        self._segmenter: "Segmenter | None" = None

    def __repr__(self) -> str:
        weights = "" if self.weights is None else f", weights={str(self.weights)!r}"
        return f"Fuser(method={self.method!r}{weights}, device={str(self.device)!r})"

    def __call__(self, ir: Images, vis: Images) -> Images:
        """Fuse a pair, or a batch of equal-size pairs, and return the result in the visible image's type.

        Args:
            ir: the infrared image: (H, W) or (H, W, 3) numpy array, PIL image, or (B, 1|3, H, W) / (1|3, H, W)
                tensor; or a list of numpy arrays / PIL images for a batch.
            vis: the visible image of the same size and kind (a list of the same length for a batch).

        Returns:
            The fused image with ``vis``'s type, dtype, shape and device (a list for lists).

        Raises:
            InputError: for shapes, sizes or value ranges that do not fit (one line saying what to give).
            InputTypeError: for an unsupported type or dtype.

        Example:
            >>> import torch, semfuse
            >>> fuser = semfuse.load(method="average", device="cpu")
            >>> fuser(torch.zeros(2, 1, 8, 8), torch.ones(2, 3, 8, 8, dtype=torch.float64)).dtype
            torch.float64
            >>> [image.shape for image in fuser([np.zeros((4, 4))] * 2, [np.ones((4, 4))] * 2)]
            [(4, 4), (4, 4)]
        """
        fused, specs, listed = self._fuse(ir, vis)
        outputs = [spec.output(batch) for batch, spec in zip(fused, specs)]
        return cast(Images, outputs) if listed else outputs[0]

    def stream(self, pairs: Iterable[tuple[Images, Images]]) -> Iterator[Images]:
        """Fuse ``(ir, vis)`` pairs lazily, one at a time as they come (frames of a live camera, a video decoder).

        Args:
            pairs: any iterable of pairs of accepted images (each may be a batch).

        Yields:
            Each fused image, as :meth:`__call__` returns it.

        Example:
            >>> import numpy as np, semfuse
            >>> frames = ((np.zeros((4, 4), np.uint8), np.full((4, 4), 100, np.uint8)) for _ in range(3))
            >>> [int(fused[0, 0]) for fused in semfuse.load(method="average", device="cpu").stream(frames)]
            [50, 50, 50]
        """
        for ir, vis in pairs:
            yield self(ir, vis)

    def segment(self, ir: Images, vis: Images) -> np.ndarray | Tensor | list[np.ndarray | Tensor]:
        """Fuse a pair and segment the fused image with the segmenter trained with these weights.

        The fused image is quantised to 8 bits first, as ``semfuse fuse --segment`` segments the PNG it wrote, so
        the labels equal those it writes. Class ``i`` is named ``fuser.classes[i]``; draw the labels with
        :func:`semfuse.segmentation.overlay`.

        Args:
            ir: the infrared image (as for :meth:`__call__`).
            vis: the visible image.

        Returns:
            Class ids: a uint8 (H, W) numpy array for numpy or PIL input (a list for lists); an int64 (B, H, W)
            tensor on the input's device for tensors ((H, W) for a (1|3, H, W) tensor).

        Raises:
            InputError: if these weights have no segmenter (load ``semantic-msrs-boxes`` or a semantic run's
                weights), or for unusable images.

        Example:
            >>> import numpy as np, semfuse
            >>> fuser = semfuse.load("semantic-msrs-boxes", device="cpu")
            >>> labels = fuser.segment(np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8))
            >>> labels.shape, labels.dtype, len(fuser.classes) > int(labels.max())
            ((32, 32), dtype('uint8'), True)
        """
        from semfuse.segmentation import predict

        segmenter = self._load_segmenter()
        fused, specs, listed = self._fuse(ir, vis)
        labels = []
        for batch, spec in zip(fused, specs):
            quantised = convert.quantise(batch)  # as the PNG holds it
            rgb = quantised.expand(-1, 3, -1, -1).contiguous().to(self.device)  # (B, 3, H, W)
            with torch.inference_mode():
                labels.append(spec.labels(predict(segmenter, rgb)))
        return labels if listed else labels[0]

    @property
    def classes(self) -> tuple[str, ...]:
        """The names of the segmenter's classes (``classes[i]`` names label id i); loads the segmenter."""
        return tuple(self._load_segmenter().config.class_names)

    def _load_segmenter(self) -> "Segmenter":
        from semfuse.models.weights import load_segmenter, segmenter_for

        if self._segmenter is None:
            path = self._segmenter_weights
            if path is None:
                if self.method != "semfuse":
                    raise InputError(f"method {self.method} has no segmenter; segment with semantic weights of "
                                     "the semfuse network, e.g. semfuse.load('semantic-msrs-boxes')")
                try:
                    path = segmenter_for(self.weights)
                except SemfuseError:
                    raise InputError(f"the weights {self.weights or 'warm-start'} have no segmenter; load "
                                     "semantically trained weights, e.g. semfuse.load('semantic-msrs-boxes'), or "
                                     "give segmenter=FILE") from None
            self._segmenter = load_segmenter(path, self.device)
        return self._segmenter

    def _fuse(self, ir: Images, vis: Images) -> tuple[list[Tensor], list[convert.ImageSpec], bool]:
        """The fused float32 (B, 1|3, H, W) tensors of the input, the spec to give each back in, and whether the
        input was a list of pairs."""
        if isinstance(ir, Tensor) or isinstance(vis, Tensor):
            ir_t, _ = convert.read_tensor(ir, "ir")
            vis_t, spec = convert.read_tensor(vis, "vis")
            _check_sizes([(tuple(ir_t.shape[2:]), tuple(vis_t.shape[2:]))], batch=False)
            if ir_t.shape[0] != vis_t.shape[0]:
                raise InputError(f"ir holds {ir_t.shape[0]} images but vis {vis_t.shape[0]}; give one ir per vis")
            ir_t = convert.infrared_luminance_tensor(ir_t).to(vis_t.device)
            return [self._fuse_batch(ir_t, vis_t)], [spec], False
        listed = isinstance(ir, (list, tuple)) or isinstance(vis, (list, tuple))
        irs, viss = _as_lists(ir, vis) if listed else ([ir], [vis])
        ir_arrays = [convert.infrared_luminance(convert.read_numpy(image, f"ir{_at(i, listed)}")[0])
                     for i, image in enumerate(irs)]
        read = [convert.read_numpy(image, f"vis{_at(i, listed)}") for i, image in enumerate(viss)]
        _check_sizes([(ir_array.shape, array.shape[:2]) for ir_array, (array, _) in zip(ir_arrays, read)], listed)
        fused: dict[int, Tensor] = {}
        for colour in (False, True):  # the grey pairs and the colour pairs, each fused as one batch
            index = [i for i, (array, _) in enumerate(read) if (array.ndim == 3) == colour]
            if index:
                ir_batch = torch.from_numpy(np.stack([ir_arrays[i] for i in index]))[:, None]  # (B, 1, H, W)
                vis_batch = torch.from_numpy(np.stack([read[i][0] for i in index]))  # (B, H, W[, 3])
                vis_batch = vis_batch.permute(0, 3, 1, 2) if colour else vis_batch[:, None]  # (B, 1|3, H, W)
                result = self._fuse_batch(ir_batch, vis_batch.contiguous())
                fused.update({i: result[position:position + 1] for position, i in enumerate(index)})
        return [fused[i] for i in range(len(read))], [spec for _, spec in read], listed

    def _fuse_batch(self, ir: Tensor, vis: Tensor) -> Tensor:
        """(B, 1, H, W) and (B, 1|3, H, W) float32 -> fused (B, 1|3, H, W) float32 on ``vis``'s device."""
        fused = fuse_tensors(self.fuse_fn, ir, vis)
        return convert.stretch(fused) if self.stretch else fused


def _at(index: int, listed: bool) -> str:
    return f"[{index}]" if listed else ""


def _as_lists(ir: Any, vis: Any) -> tuple[list, list]:
    """The images of a batch given as two lists of equal length."""
    if not (isinstance(ir, (list, tuple)) and isinstance(vis, (list, tuple))):
        raise InputError("give ir and vis both as lists (a batch of pairs) or both as single images")
    if len(ir) != len(vis) or not ir:
        raise InputError(f"ir holds {len(ir)} images but vis {len(vis)}; give one infrared image per visible one")
    return list(ir), list(vis)


def _check_sizes(sizes: list[tuple[tuple[int, ...], tuple[int, ...]]], batch: bool) -> None:
    """Refuse pairs whose infrared and visible sizes (H, W) differ, and batches of pairs of different sizes."""
    for index, (ir_size, vis_size) in enumerate(sizes):
        if ir_size != vis_size:
            where = f" of pair {index}" if batch else ""
            raise InputError(f"the infrared image{where} is {convert.size_text(ir_size)} but the visible image is "
                             f"{convert.size_text(vis_size)}; register and resize the pair to one size first")
        if ir_size != sizes[0][0]:
            raise InputError(f"pair {index} is {convert.size_text(ir_size)} but pair 0 is "
                             f"{convert.size_text(sizes[0][0])}; a batch needs pairs of one size (fuse the others "
                             "in another call)")


def load(
    weights: str | Path | None = None,
    method: str = "semfuse",
    device: str | torch.device = "auto",
    precision: str | None = None,
    tile: int | None = None,
    stretch: bool = False,
    segmenter: str | Path | None = None,
) -> Fuser:
    """Load a fusion method once; the :class:`Fuser` it returns fuses pairs in the caller's image type.

    Args:
        weights: for a network method, a bundled name (:func:`list_weights`) or a ``.safetensors`` file; None:
            the method's bundled default (``warm-start`` for ``semfuse``). Classical methods take none.
        method: a fusion method (:func:`list_methods`).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32`` (default) or ``bf16`` (semfuse network only; see ``semfuse fuse --help``).
        tile: fuse in tiles of this side (at least 8) to bound memory (semfuse network only).
        stretch: min-max stretch every fused image, as the authors' test code does (off by default).
        segmenter: segmenter weights for :meth:`Fuser.segment` (default: the one trained with ``weights``).

    Returns:
        The loaded :class:`Fuser`.

    Raises:
        UnknownNameError: for an unknown method (the valid ones listed).
        SemfuseError: for weights that are neither a bundled name (the names listed) nor a file, an unusable
            weights file, options the method does not take, or a device that is not available.

    Example:
        >>> import numpy as np, semfuse
        >>> fuser = semfuse.load(device="cpu")  # the semfuse network with the bundled warm-start weights
        >>> fuser(np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.uint8)).shape
        (64, 64, 3)
    """
    if method not in METHODS:
        raise UnknownNameError(f"unknown fusion method {method!r}; choose one of: {', '.join(METHODS)}")
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 8):
        raise InputError(f"tile must be a whole number of pixels >= 8, e.g. tile=1024; got {tile!r}")
    resolved = resolve_device(device)
    fuse_fn = get_method(method, weights=None if weights is None else str(weights), device=resolved, tile=tile,
                         precision=precision)
    return Fuser(method, weights, resolved, fuse_fn, stretch, segmenter)


def fuse(ir: Images, vis: Images, method: str = "semfuse", **options: Any) -> Images:
    """Fuse one pair (or batch) with a method loaded for this call only: :func:`load` then :meth:`Fuser.__call__`.

    To fuse many pairs, :func:`load` once and call the :class:`Fuser`; this function loads the method every time.

    Args:
        ir: the infrared image (any type :class:`Fuser` accepts).
        vis: the visible image of the same size.
        method: a fusion method (:func:`list_methods`).
        options: the other arguments of :func:`load` (``weights``, ``device``, ``precision``, ``tile``,
            ``stretch``).

    Returns:
        The fused image in ``vis``'s type.

    Example:
        >>> import numpy as np, semfuse
        >>> semfuse.fuse(np.zeros((2, 2)), np.ones((2, 2)), method="average", device="cpu").tolist()
        [[0.5, 0.5], [0.5, 0.5]]
    """
    return load(method=method, **options)(ir, vis)


def segment(ir: Images, vis: Images, weights: str | Path = "semantic-msrs-boxes", device: str | torch.device = "auto",
            **options: Any) -> np.ndarray | Tensor | list[np.ndarray | Tensor]:
    """Fuse a pair with semantic weights and segment the fused image (:meth:`Fuser.segment`).

    Args:
        ir: the infrared image (any type :class:`Fuser` accepts).
        vis: the visible image of the same size.
        weights: semantically trained weights with a segmenter (default: the bundled ``semantic-msrs-boxes``).
        device: where the networks run.
        options: the other arguments of :func:`load`.

    Returns:
        The class ids, as :meth:`Fuser.segment` returns them.

    Example:
        >>> import numpy as np, semfuse
        >>> semfuse.segment(np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), device="cpu").shape
        (32, 32)
    """
    return load(weights, device=device, **options).segment(ir, vis)


def evaluate(ir: Images, vis: Images, fused: Images, metrics: str | Sequence[str] | None = None) -> dict[str, float]:
    """Score a fused image against its sources: the values ``semfuse evaluate`` writes for the same images.

    Every image is brought to 8-bit grey as ``semfuse evaluate`` reads files (MATLAB ``rgb2gray`` for colour).

    Args:
        ir: the infrared image: numpy (H, W) / (H, W, 3), PIL, or a tensor (1|3, H, W) / (1, 1|3, H, W).
        vis: the visible image of the same size.
        fused: the fused image of the same size.
        metrics: metric names (a list or a comma-separated string); None for the whole default panel.

    Returns:
        ``{metric: value}`` in the order asked; NaN where a metric is undefined for these images.

    Raises:
        UnknownNameError: for an unknown metric (the valid ones listed).
        InputError: for images of different sizes or unusable shapes.

    Example:
        >>> import numpy as np, semfuse
        >>> ir, vis = np.zeros((16, 16), np.uint8), np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1))
        >>> {name: round(value, 2) for name, value in semfuse.evaluate(ir, vis, vis, metrics="SD,EN").items()}
        {'SD': 73.76, 'EN': 4.0}
    """
    from semfuse.evaluation.undefined import score_triplet
    from semfuse.metrics import resolve_metric_names

    names = resolve_metric_names(metrics)
    grey = {what: _grey_uint8(image, what) for what, image in (("ir", ir), ("vis", vis), ("fused", fused))}
    sizes = {what: image.shape for what, image in grey.items()}
    if len(set(sizes.values())) > 1:
        raise InputError("ir, vis and fused differ in size (" + ", ".join(
            f"{what} {shape[1]}x{shape[0]}" for what, shape in sizes.items()) + "); give images of one size")
    values, _ = score_triplet(grey["fused"], grey["ir"], grey["vis"], names)
    return values


def _grey_uint8(image: Images, what: str) -> np.ndarray:
    """One image as uint8 (H, W) grey, as ``semfuse evaluate`` reads a file (:func:`load_grey_uint8`)."""
    from semfuse.evaluation.fusion import grey_uint8

    if isinstance(image, Tensor):
        if image.dim() == 4 and image.shape[0] != 1:
            raise InputError(f"{what} is a batch of {image.shape[0]} images; evaluate scores one triplet at a time")
        floats, spec = convert.read_tensor(image, what)
        array = floats[0].permute(1, 2, 0).cpu().numpy()
        array = array[..., 0] if array.shape[2] == 1 else array
    else:
        array, spec = convert.read_numpy(image, what)
    return grey_uint8(array)


def list_methods() -> list[str]:
    """The fusion methods :func:`load` accepts, sorted (``semfuse methods`` describes each).

    Example:
        >>> import semfuse
        >>> "semfuse" in semfuse.list_methods() and "average" in semfuse.list_methods()
        True
    """
    return list(METHODS)


def list_weights(method: str | None = None) -> list[str]:
    """The bundled weights names, all or those of ``method``.

    Raises:
        UnknownNameError: for an unknown method (the valid ones listed).

    Example:
        >>> import semfuse
        >>> semfuse.list_weights("semfuse")
        ['warm-start', 'warm-start-max', 'semantic-msrs-boxes']
    """
    if method is None:
        return list(BUNDLED_WEIGHTS.names)
    if method not in METHODS:
        raise UnknownNameError(f"unknown fusion method {method!r}; choose one of: {', '.join(METHODS)}")
    return list(bundled_weights_of(method))
