"""Device names from the command line and configs (``auto``, ``cpu``, ``cuda``, ``cuda:N``) -> ``torch.device``."""

import torch

from semfuse.errors import SemfuseError


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> cuda when available, else cpu; otherwise the named device, checked to exist here.

    Args:
        name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (or a ``torch.device``).

    Raises:
        SemfuseError: for an unknown device name, or a CUDA device on a machine without CUDA.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SemfuseError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SemfuseError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SemfuseError(
            f"device {name!r} was asked for but this machine has {torch.cuda.device_count()} CUDA device(s); "
            "use cuda:0 or auto"
        )
    return device
