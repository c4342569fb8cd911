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


def native_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 autocast runs on hardware made for it on ``device``: any CUDA device, or a CPU with AMX
    tiles (Intel Sapphire Rapids and later), where oneDNN runs bf16 convolutions and matrix products 4-6x as fast
    as float32 (``benchmarks/train_throughput.py``). Elsewhere bf16 is emulated on the CPU and slower than float32.
    """
    if device.type == "cuda":
        return True
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private in torch 2.x; absent: assume no AMX
    return device.type == "cpu" and probe is not None and bool(probe())


def autocast_context(device: torch.device, enabled: bool = True):
    """A factory of bfloat16 autocast contexts on ``device`` where :func:`native_bfloat16` (and ``enabled``), else
    of null contexts: call it as ``with autocast_context(device, amp)():``."""
    import contextlib

    if enabled and native_bfloat16(device):
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext
