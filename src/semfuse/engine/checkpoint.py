"""Training checkpoints: one dict of tensors and plain values, written atomically, read with ``weights_only``."""

import os
import tempfile
from pathlib import Path

import torch

from semfuse.errors import SemfuseError


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts only) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (no arbitrary unpickling: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise SemfuseError(f"no checkpoint at {path}; start without --resume or point --run-dir at an earlier run")
    return torch.load(path, map_location="cpu", weights_only=True)
