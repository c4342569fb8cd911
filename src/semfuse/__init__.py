"""semfuse: semantic-driven infrared-visible image fusion (Wu et al., IEEE SPL 2023).

The Python API (:mod:`semfuse.api`) is loaded on first use, so ``import semfuse`` stays light (no torch):

>>> import semfuse
>>> semfuse.list_weights("densefuse-l1")
['densefuse']
"""

import logging
from typing import Any

from semfuse.version import __version__

__all__ = ["Fuser", "__version__", "evaluate", "fuse", "list_methods", "list_weights", "load", "segment"]

_API = ("Fuser", "evaluate", "fuse", "list_methods", "list_weights", "load", "segment")

logger = logging.getLogger("semfuse")
logger.addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """The public API's names, imported from :mod:`semfuse.api` when first asked for (PEP 562)."""
    if name in _API:
        from semfuse import api

        return getattr(api, name)
    raise AttributeError(f"module 'semfuse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
