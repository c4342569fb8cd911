"""The MST-SR dictionary shipped with semfuse: 256 unit-norm atoms for 8x8 patches with their mean removed.

It was learned by :mod:`semfuse.tools.learn_dictionary` (K-SVD, offline) on RoadScene and MSRS patches; the
card next to the file (``data/mst_sr_dictionary.md``) records the data, settings and the command that rebuilds it.
"""

from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from semfuse.errors import InputError

DICTIONARY_FILE = "mst_sr_dictionary.npy"
PATCH_SIDE = 8


def default_dictionary_path() -> Path:
    """Where the shipped dictionary lies inside the installed package."""
    return Path(str(resources.files("semfuse.methods.classical") / "data" / DICTIONARY_FILE))


def load_dictionary(source: str | Path | np.ndarray | Tensor | None = None) -> Tensor:
    """The dictionary as a float64 (64, K) tensor with unit-norm columns.

    Args:
        source: a ``.npy`` path, an array/tensor of shape (64, K), or None for the shipped dictionary.

    Raises:
        ValueError: if the array is not (64, K) with K >= 64, or has a zero or non-finite column.
    """
    if source is None:
        source = default_dictionary_path()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"MST-SR dictionary {path} does not exist; pass a .npy file of shape (64, K)")
        source = np.load(path, allow_pickle=False)
    atoms = torch.as_tensor(np.asarray(source) if not isinstance(source, Tensor) else source).to(torch.float64)
    side = PATCH_SIDE * PATCH_SIDE
    if atoms.dim() != 2 or atoms.shape[0] != side or atoms.shape[1] < side:
        raise InputError(f"an MST-SR dictionary must have shape ({side}, K) with K >= {side}, got {tuple(atoms.shape)}")
    norms = atoms.norm(dim=0)
    if not torch.isfinite(atoms).all() or (norms == 0).any():
        raise InputError(
            "the MST-SR dictionary has a zero or non-finite atom; "
            "relearn it with python -m semfuse.tools.learn_dictionary"
        )
    return atoms / norms
