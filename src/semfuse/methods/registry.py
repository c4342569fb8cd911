"""One interface for every fusion method: the semfuse network and the classical baselines alike.

A method is a callable ``fuse(ir, vis) -> fused`` on luminance tensors of shape (B, 1, H, W) with values in
[0, 1]; the result has the same shape and range. Reading files, colour conversion (fuse the visible Y, put the
visible Cb/Cr back) and writing are done once, around every method, by :mod:`semfuse.inference`.

Every method is built the same way, by :func:`get_method` with one set of options (like timm's ``create_model``):
``weights`` and ``device`` are accepted for every method, options left at None are dropped, and the rest go to the
method's factory. Network methods (``takes_weights``) load their weights and run on ``device``, taking inputs from
any device and returning CPU tensors. The classical methods have no weights (giving some is an error) and compute
where their inputs are (the CPU in :mod:`semfuse.inference`); for them ``device`` is checked and otherwise unused.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from semfuse.device import resolve_device
from semfuse.errors import SemfuseError
from semfuse.names import bundled_weights_of
from semfuse.registry import Registry

FuseFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its name, a one-line description, the paper it follows, its factory, and whether it
    loads weights (a network, built with ``factory(weights=..., device=..., **options)``) or not (a classical
    method, built with ``factory(**options)``)."""

    name: str
    description: str
    reference: str
    factory: Callable[..., FuseFn]
    takes_weights: bool = False

    @property
    def bundled_weights(self) -> tuple[str, ...]:
        """The bundled weights this method runs (declared in :data:`semfuse.names.BUNDLED_WEIGHTS`)."""
        return bundled_weights_of(self.name)


METHODS = Registry[MethodInfo]("fusion method", sort_names=True)


def register_method(
    name: str, description: str, reference: str, takes_weights: bool = False
) -> Callable[[Callable[..., FuseFn]], Callable[..., FuseFn]]:
    """Decorator registering ``factory(**options) -> fuse`` under ``name``.

    With ``takes_weights`` the factory is a network's: it also receives ``weights`` (a bundled name, a file or
    None for its bundled default) and ``device`` (a ``torch.device``), and must run on that device.
    """

    def decorate(factory: Callable[..., FuseFn]) -> Callable[..., FuseFn]:
        METHODS.register(name, MethodInfo(name, description, reference, factory, takes_weights))
        return factory

    return decorate


def available_methods() -> list[MethodInfo]:
    """Every registered method, sorted by name."""
    return [METHODS[name] for name in METHODS.listed_names()]


def method_info(name: str) -> MethodInfo:
    """The registered :class:`MethodInfo` of ``name``.

    Raises:
        UnknownNameError: naming the registered methods, if ``name`` is not one.
    """
    return METHODS[name]


def get_method(
    name: str, *, weights: str | None = None, device: str | torch.device = "cpu", **options: Any
) -> FuseFn:
    """Build the fusion callable of method ``name``.

    Args:
        name: a registered method (see :func:`available_methods`).
        weights: for a network method, a bundled weights name or a ``.safetensors`` file (None: its bundled
            default); a method without weights refuses them.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; network methods run there, classical methods compute
            where their inputs are and only check it.
        options: the method's own options (e.g. ``levels=3``); those that are None are dropped.

    Raises:
        UnknownNameError: for an unknown method (a :class:`SemfuseError`).
        SemfuseError: for weights given to a method without weights, or a device that is not available.

    Example:
        >>> from semfuse.methods import get_method  # the package registers every method
        >>> fuse = get_method("average", device="cpu")
        >>> fuse(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).flatten().tolist()
        [0.5, 0.5, 0.5, 0.5]
    """
    info = method_info(name)
    options = {key: value for key, value in options.items() if value is not None}
    accepted = inspect.signature(info.factory).parameters
    unknown = sorted(set(options) - set(accepted) - {"weights", "device"})
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        raise SemfuseError(f"method {name} has no option {unknown[0]!r} (it takes: "
                           f"{', '.join(k for k in accepted if k not in ('weights', 'device')) or 'none'})")
    resolved = resolve_device(device)
    if not info.takes_weights:
        if weights is not None:
            raise SemfuseError(f"method {name} has no weights; drop --weights")
        return info.factory(**options)
    return info.factory(weights=weights, device=resolved, **options)
