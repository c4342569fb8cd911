"""Where a result came from: the ``run.json`` record that ``evaluate`` and ``segeval`` write beside their tables.

The record holds the semfuse version and git commit, the command line, the time, the input folders and, when known,
the weights each method was fused with. The HTML report shows it and uses its folders to find the images.
"""

import datetime
import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from semfuse.errors import SemfuseError
from semfuse.files import atomic_write_text
from semfuse.version import __version__

RUN_RECORD = "run.json"


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the git checkout holding ``folder`` (default: the semfuse sources), with ``-dirty`` appended
    when tracked files differ from it; None outside a checkout or without git."""
    folder = Path(folder or Path(__file__).parent.parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if status else commit


def _command_line() -> list[str]:
    """``sys.argv`` with the program written as ``semfuse`` when it is the console script or ``python -m``."""
    program = Path(sys.argv[0]).name if sys.argv else ""
    return ["semfuse", *sys.argv[1:]] if program in ("semfuse", "__main__.py") else list(sys.argv)


def _resolved(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def run_record(
    inputs: Mapping[str, str | Path | None],
    fused: Mapping[str, str | Path],
    weights: Mapping[str, str | Path] | None = None,
    command: Sequence[str] | None = None,
    extra: Mapping | None = None,
) -> dict:
    """The provenance record of one run (JSON-serialisable).

    Args:
        inputs: named input folders, e.g. ``{"ir": ..., "vis": ...}`` or ``{"data": ...}`` (None values kept).
        fused: method name -> folder of its fused images.
        weights: method name -> weights file the method was fused with, when known.
        command: the command line; default ``sys.argv``.
        extra: further JSON-serialisable fields (metrics, problems, ...).
    """
    record = {
        "semfuse_version": __version__,
        "commit": git_commit(),
        "command": list(_command_line() if command is None else command),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "inputs": {name: None if path is None else _resolved(path) for name, path in inputs.items()},
        "fused": {method: _resolved(folder) for method, folder in fused.items()},
        "weights": {method: _resolved(path) for method, path in (weights or {}).items()},
    }
    record.update(extra or {})
    return record


def write_run_record(out_dir: str | Path, record: Mapping, overwrite: bool = False) -> Path:
    """Write ``record`` to ``out_dir/run.json`` atomically."""
    return atomic_write_text(Path(out_dir) / RUN_RECORD, json.dumps(record, indent=2) + "\n", overwrite)


def read_run_record(folder: str | Path) -> dict:
    """``folder/run.json`` as a dict; an empty dict when it is missing or unreadable (older outputs have none)."""
    path = Path(folder) / RUN_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def weights_info(path: str | Path) -> dict:
    """What the report shows about a weights file: path, size, SHA-256, metadata and the card beside it.

    The card is ``<stem>.md`` next to the file (as for the bundled weights); missing pieces are None.
    """
    path = Path(path)
    info: dict = {"path": str(path), "exists": path.is_file(), "bytes": None, "sha256": None, "metadata": None,
                  "card": None}
    if not info["exists"]:
        return info
    info["bytes"] = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    info["sha256"] = digest.hexdigest()
    if path.suffix == ".safetensors":
        from semfuse.models.weights import read_metadata

        try:
            info["metadata"] = read_metadata(path)
        except SemfuseError:  # a damaged file is shown without metadata; the report still gets written
            info["metadata"] = None
    card = path.with_suffix(".md")
    if card.is_file():
        info["card"] = card.read_text(encoding="utf-8")
    return info
