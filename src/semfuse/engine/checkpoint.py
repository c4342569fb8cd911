"""Training checkpoints: one dict of tensors and plain values, written atomically, read with ``weights_only``.

Reading never runs code: ``torch.load(weights_only=True)`` refuses any pickled object that is not a tensor or a
plain value (a malicious checkpoint is refused, not executed). A damaged, truncated or foreign file, and a
checkpoint whose network or optimiser does not fit the current run, end with one :class:`SemfuseError` line.
"""

import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from semfuse.errors import SemfuseError
from semfuse.files import atomic_write

_START_AGAIN = "delete it to start again, or point --run-dir at another run"


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts only) to ``path`` atomically."""
    return atomic_write(Path(path), lambda temporary: torch.save(state, temporary), overwrite=True)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (no arbitrary unpickling: ``weights_only=True``).

    Raises:
        SemfuseError: one line naming ``path``: missing, truncated or damaged, not a checkpoint, or holding
            Python objects other than tensors and plain values (refused without running them).
    """
    path = Path(path)
    if not path.is_file():
        raise SemfuseError(f"no checkpoint at {path}; start without --resume or point --run-dir at an earlier run")
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol is refused below; no warning on the way
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "unsupported global" in str(error).lower():  # the pickle names a function or class to call
            raise SemfuseError(
                f"{path} holds Python objects other than tensors and plain values, which could run code when "
                f"loaded; semfuse refused it (weights_only=True). Use checkpoints written by semfuse, or {_START_AGAIN}"
            ) from None
        raise SemfuseError(f"{path} is not a semfuse checkpoint ({_first_line(error)}); {_START_AGAIN}") from None
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        raise SemfuseError(
            f"{path} is truncated or damaged ({_first_line(error)}), e.g. by a full disk; {_START_AGAIN}"
        ) from None
    if not isinstance(state, dict) or "iteration" not in state:
        raise SemfuseError(f"{path} is not a semfuse training checkpoint (no iteration count); {_START_AGAIN}")
    return state


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """``key: saved -> current`` for every leaf that differs between two nested dicts."""
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        found = []
        for key in sorted(set(saved) | set(current), key=str):
            found += _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
        return found
    return [] if saved == current else [f"{prefix.rstrip('.')}: {saved!r} -> {current!r}"]


def restore_checkpoint(state: dict, parts: Mapping[str, Any], path: str | Path, config: dict | None = None) -> None:
    """Load ``state[name]`` into each of ``parts`` (modules, optimisers: anything with ``load_state_dict``).

    Args:
        state: a checkpoint from :func:`load_checkpoint`.
        parts: name in the checkpoint -> object to restore.
        path: the checkpoint's file, named in errors.
        config: the current run's config as a dict; when the checkpoint stores its own (``state["config"]``), a
            failure names the settings that differ.

    Raises:
        SemfuseError: one line, if the checkpoint lacks a part or a part does not fit (another architecture,
            attention kind, width, phase or optimiser), naming the differing settings when known.
    """
    for name, part in parts.items():
        if name not in state:
            raise SemfuseError(f"{path} has no {name!r} state (it was written by another training phase); "
                               f"{_START_AGAIN}")
        try:
            part.load_state_dict(state[name])
        except (RuntimeError, ValueError, KeyError) as error:
            changed = _differences(state.get("config"), config) if config is not None and "config" in state else []
            relevant = [line for line in changed if not line.startswith(("run_dir", "device"))]
            cause = (f"settings changed since it was written: {'; '.join(relevant[:4])}" if relevant
                     else _first_line(error))
            raise SemfuseError(
                f"{path} does not fit this run's {name} ({cause}); resume with the run's own settings "
                f"(its config.yaml), or {_START_AGAIN}"
            ) from None
