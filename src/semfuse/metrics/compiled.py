"""Compiled CPU kernels for the metric panel, and the switch that chooses them.

VIF, SSIM / MS-SSIM, Qabf and Nabf are chains of a few dozen elementwise operations over filtered maps, and MI, CC,
SCD, MSE and AG a dozen operations over the images. In eager PyTorch each operation is a pass over memory and a
dispatch, so on a CPU they cost several times what the arithmetic does. Their kernels
(:mod:`semfuse.metrics._windowed_kernels`, :mod:`semfuse.metrics._gradient_kernels`,
:mod:`semfuse.metrics._statistics_kernels`) are compiled with numba: one pass over the rows, which filters the
moments and evaluates the per-pixel formula while a row is in cache, in float64, with the same formulas as the
tensor code. They run without the GIL, so the worker threads of ``semfuse evaluate`` run them side by side.

The tensor code stays the reference and the path for other devices (a GPU) and for machines without numba; tests
hold the two paths against each other. The kernels are used when every tensor is on the CPU, numba imports, and
they are not switched off: with ``SEMFUSE_COMPILED_METRICS=0`` in the environment, or inside
``with compiled_metrics(False):``.

The first call of each kernel in a new environment compiles it (seconds); numba caches the machine code beside
the module (or in the user's cache folder when that is read-only), so later processes load it.
"""

import functools
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

ENVIRONMENT_VARIABLE = "SEMFUSE_COMPILED_METRICS"
_state = threading.local()


@functools.cache
def numba_available() -> bool:
    """True when numba imports and the kernel modules load.

    numba is a dependency of semfuse, but a platform may lack a wheel for it. Where no folder is writable for numba's
    cache (neither the package's folder nor the user's cache folder), numba refuses to define the kernels. In both
    cases the metrics run the tensor code; the second also warns once, saying what to do.
    """
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    try:
        from semfuse.metrics import (  # noqa: F401
            _gradient_kernels,
            _statistics_kernels,
            _windowed_kernels,
        )
    except RuntimeError as error:  # "cannot cache function ...: no locator available"
        warnings.warn(
            f"semfuse's compiled metric kernels are unavailable ({error}); the metrics run the slower tensor code. "
            "Point NUMBA_CACHE_DIR at a writable folder to use them.",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


def _enabled() -> bool:
    override = getattr(_state, "enabled", None)
    if override is not None:
        return override
    return os.environ.get(ENVIRONMENT_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


@contextmanager
def compiled_metrics(enabled: bool) -> Iterator[None]:
    """Use (or not) the compiled kernels inside the block, in this thread; the environment setting outside it.

    Example:
        >>> with compiled_metrics(False):
        ...     pass  # the metrics called here run the tensor code
    """
    previous = getattr(_state, "enabled", None)
    _state.enabled = bool(enabled)
    try:
        yield
    finally:
        _state.enabled = previous


def use_compiled(*tensors: Tensor) -> bool:
    """Whether a metric given these tensors should run its compiled kernel: all on the CPU, numba, switched on."""
    return all(tensor.device.type == "cpu" for tensor in tensors) and _enabled() and numba_available()


def windowed_kernels() -> ModuleType:
    """The compiled VIF and SSIM / MS-SSIM kernels (imports numba on first use)."""
    from semfuse.metrics import _windowed_kernels

    return _windowed_kernels


def gradient_kernels() -> ModuleType:
    """The compiled Qabf and Nabf kernels (imports numba on first use)."""
    from semfuse.metrics import _gradient_kernels

    return _gradient_kernels


def statistics_kernels() -> ModuleType:
    """The compiled MI, CC, SCD, MSE and AG kernels (imports numba on first use)."""
    from semfuse.metrics import _statistics_kernels

    return _statistics_kernels


def per_image(kernel, *images: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """(B,) float64 tensor of ``kernel(*planes)`` for each batch element, the planes being the (B, 1, H, W) images'
    (H, W) planes as C-contiguous numpy arrays of ``dtype``."""
    planes = [np.ascontiguousarray(image.detach().to(dtype).numpy()[:, 0]) for image in images]
    return torch.tensor([kernel(*(plane[index] for plane in planes)) for index in range(planes[0].shape[0])],
                        dtype=torch.float64)  # fmt: skip
