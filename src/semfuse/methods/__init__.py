"""Fusion methods behind one interface (see :mod:`semfuse.methods.registry`)."""

from semfuse.methods import (  # noqa: F401,E402  (register the networks)
    classical,  # noqa: F401  (registers the classical methods)
    densefuse,
    network,
)
from semfuse.methods.registry import (
    MethodInfo,
    available_methods,
    get_method,
    register_method,
)

__all__ = ["MethodInfo", "available_methods", "get_method", "register_method"]
