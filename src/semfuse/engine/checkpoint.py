"""Training checkpoints: one dict of tensors and plain values, written atomically, read with ``weights_only``."""

from pathlib import Path

import torch

from semfuse.errors import SemfuseError
from semfuse.files import atomic_write


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts only) to ``path`` atomically."""
    return atomic_write(Path(path), lambda temporary: torch.save(state, temporary), overwrite=True)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (no arbitrary unpickling: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise SemfuseError(f"no checkpoint at {path}; start without --resume or point --run-dir at an earlier run")
    return torch.load(path, map_location="cpu", weights_only=True)
