"""Fusion methods behind one interface (see :mod:`semfuse.methods.registry`)."""

from semfuse.methods import (  # noqa: F401  (importing a module registers its methods)
    classical,
    densefuse,
    network,
)
from semfuse.methods.registry import (
    METHODS,
    FuseFn,
    MethodInfo,
    available_methods,
    get_method,
    method_info,
    register_method,
)

__all__ = ["METHODS", "FuseFn", "MethodInfo", "available_methods", "get_method", "method_info", "register_method"]
