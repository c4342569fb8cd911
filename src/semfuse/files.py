"""Atomic output files: written to a temporary file in the target folder, then renamed over the target.

Every file semfuse writes (images, tables, plots, weights, checkpoints) goes through :func:`atomic_write`:

* a reader, or a process killed at any moment, never leaves a half-written file under the target's name; the
  temporary file is ``.NAME.XXXXXXXX.SUFFIX`` (hidden, ignored by :func:`semfuse.data.io.list_images`), removed on
  any error or Ctrl-C, and left behind only by ``kill -9`` or a power cut;
* without ``overwrite`` the file is created with a hard link, which fails if another process created the target in
  the meantime, so two runs into one folder never replace each other's files;
* a failing write (disk full, read-only disk, no permission) raises :class:`OutputWriteError`, one line naming the
  path and the cause.
"""

import errno
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from semfuse.errors import SemfuseError

_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space or choose another output folder",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another output folder",
    errno.EROFS: "the file system is read-only; choose another output folder",
    errno.EACCES: "no permission to write there; choose another output folder or fix its permissions",
    errno.EPERM: "no permission to write there; choose another output folder or fix its permissions",
}
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}


class OutputExistsError(SemfuseError):
    """An output file exists and ``overwrite`` is False (also when another process created it meanwhile)."""


class OutputWriteError(SemfuseError):
    """Writing an output file failed (disk full, read-only, no permission, ...); nothing was left under its name.

    Attributes:
        path: the file that could not be written.
        errno: the operating system's error number.
        stops_batch: True when the folder or disk is the problem (full, read-only, no permission, I/O error), so
            that the next files would fail too and a batch should stop; False for a problem of this one file.
    """

    def __init__(self, path: Path, error: OSError):
        self.path, self.errno = Path(path), error.errno
        self.stops_batch = error.errno in _ADVICE or error.errno == errno.EIO
        cause = error.strerror or str(error)
        number = error.errno or 0  # 0: no error number (no code, no advice of its own)
        code = f" [{errno.errorcode[number]}]" if number in errno.errorcode else ""
        advice = _ADVICE.get(number, "check the output folder")
        super().__init__(f"cannot write {path}: {cause}{code}; {advice}")


def refuse_existing(paths: Iterable[Path], overwrite: bool) -> None:
    """Raise if any of ``paths`` exists and ``overwrite`` is False (checked before any work is done).

    Raises:
        OutputExistsError: naming the first existing file.
    """
    if overwrite:
        return
    for path in paths:
        if Path(path).exists():
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it or choose another output folder")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _create(temporary: Path, path: Path) -> None:
    """Give ``temporary`` the name ``path`` unless ``path`` exists, atomically where hard links work."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise OutputExistsError(f"{path} was created by another process meanwhile; pass --overwrite to replace it "
                                "or choose another output folder") from None
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        refuse_existing([path], overwrite=False)  # no hard links here (e.g. FAT): check, then rename
        os.replace(temporary, path)
    else:
        temporary.unlink()


def atomic_write(path: Path, write: Callable[[Path], object], overwrite: bool = False) -> Path:
    """Create ``path`` by calling ``write(temporary_path)`` and renaming the result into place.

    A reader never sees a half-written file, and a failure leaves no temporary file behind.

    Raises:
        OutputExistsError: if ``path`` exists and ``overwrite`` is False (also when another process created it
            while this one was writing).
        OutputWriteError: if the operating system refuses the write (the error names the path and the cause).
    """
    path = Path(path)
    refuse_existing([path], overwrite)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(handle)
        temporary = Path(name)
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual permissions
        if overwrite:
            os.replace(temporary, path)
        else:
            _create(temporary, path)
    except OSError as error:
        _remove(temporary)
        if error.errno is None:  # not the operating system's: e.g. Pillow's "cannot write mode P as JPEG"
            raise
        raise OutputWriteError(path, error) from None
    except BaseException:
        _remove(temporary)
        raise
    return path


def _remove(temporary: Path | None) -> None:
    if temporary is not None:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:  # e.g. the disk went read-only; the hidden file is ignored by semfuse and harmless
            pass


def atomic_write_text(path: Path, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` (UTF-8, '\\n' line ends) to ``path`` atomically; see :func:`atomic_write`.

    Bytes of file names that are not UTF-8 (kept by Python as surrogates) are written as backslash escapes, e.g.
    ``caf\\xe9`` for the Latin-1 name ``café``, so the file is always valid UTF-8.
    """
    return atomic_write(
        path, lambda temporary: temporary.write_text(_escape_surrogates(text), encoding="utf-8", newline="\n"),
        overwrite,
    )


def _escape_surrogates(text: str) -> str:
    """``text`` with each surrogate as a backslash escape: an undecodable byte 0xE9 (U+DCE9) as ``\\xe9``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(
            f"\\x{ord(char) - 0xDC00:02x}" if "\udc80" <= char <= "\udcff"
            else f"\\u{ord(char):04x}" if "\ud800" <= char <= "\udfff" else char
            for char in text
        )
