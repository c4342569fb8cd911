"""One interface for every fusion method: the semfuse network and the classical baselines alike.

A method is a callable ``fuse(ir, vis) -> fused`` on luminance tensors of shape (B, 1, H, W) with values in
[0, 1]; the result has the same shape and range. Reading files, colour conversion (fuse the visible Y, put the
visible Cb/Cr back) and writing are done once, around every method, by :mod:`semfuse.inference`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

FuseFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its name, a one-line description, the paper it follows and its factory."""

    name: str
    description: str
    reference: str
    factory: Callable[..., FuseFn]


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(name: str, description: str, reference: str):
    """Decorator registering ``factory(**options) -> fuse`` under ``name``."""

    def decorate(factory: Callable[..., FuseFn]) -> Callable[..., FuseFn]:
        if name in _REGISTRY:
            raise ValueError(f"fusion method {name!r} is registered twice")
        _REGISTRY[name] = MethodInfo(name, description, reference, factory)
        return factory

    return decorate


def available_methods() -> list[MethodInfo]:
    """Every registered method, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_method(name: str, **options) -> FuseFn:
    """Build the fusion callable of method ``name`` (options go to its factory)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown fusion method {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name].factory(**options)
