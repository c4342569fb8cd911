"""Fusion methods behind one interface (see :mod:`semfuse.methods.registry`)."""

from semfuse.methods.registry import MethodInfo, available_methods, get_method, register_method

__all__ = ["MethodInfo", "available_methods", "get_method", "register_method"]
