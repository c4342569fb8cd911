"""Fusion methods behind one interface (see :mod:`semfuse.methods.registry`)."""

from semfuse.methods.registry import MethodInfo, available_methods, get_method, register_method
from semfuse.methods import classical  # noqa: F401  (registers the classical methods)
from semfuse.methods import network  # noqa: F401,E402  (registers the semfuse network)

__all__ = ["MethodInfo", "available_methods", "get_method", "register_method"]
