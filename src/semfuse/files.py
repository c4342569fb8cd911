"""Atomic output files: written to a temporary file in the target folder, then renamed over the target.

Every file semfuse writes (images, tables, plots, weights, checkpoints) goes through :func:`atomic_write`.
"""

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from semfuse.errors import SemfuseError


def refuse_existing(paths: Iterable[Path], overwrite: bool) -> None:
    """Raise if any of ``paths`` exists and ``overwrite`` is False (checked before any work is done).

    Raises:
        SemfuseError: naming the first existing file.
    """
    if overwrite:
        return
    for path in paths:
        if Path(path).exists():
            raise SemfuseError(f"{path} exists; pass --overwrite to replace it or choose another output folder")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Create ``path`` by calling ``write(temporary_path)`` and renaming the result into place.

    A reader never sees a half-written file, and a failure leaves no temporary file behind.

    Raises:
        SemfuseError: if ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    refuse_existing([path], overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` (UTF-8, '\\n' line ends) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8", newline="\n"), overwrite)
