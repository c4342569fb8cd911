"""The one registry type: order, lookup, the unknown-name error, duplicate names."""

import pytest

from semfuse.errors import SemfuseError
from semfuse.registry import Registry, UnknownNameError


def test_registry_keeps_order_and_finds_items():
    kinds = Registry[int]("kind")
    kinds.register("b", 2)
    kinds.decorator("a")(1)
    assert kinds.names == ("b", "a") and list(kinds) == ["b", "a"] and len(kinds) == 2
    assert kinds["a"] == 1 and "a" in kinds and "c" not in kinds
    assert kinds.items() == [("b", 2), ("a", 1)] and kinds.values() == [2, 1]


def test_unknown_name_is_one_line_listing_the_names():
    kinds = Registry[int]("attention kind", sort_names=True)
    kinds.register("b", 2)
    kinds.register("a", 1)
    with pytest.raises(UnknownNameError) as raised:
        kinds["c"]
    assert str(raised.value) == "unknown attention kind 'c'; choose one of: a, b"
    assert isinstance(raised.value, SemfuseError) and isinstance(raised.value, KeyError)
    assert isinstance(raised.value, ValueError)
    with pytest.raises(UnknownNameError, match="unknown attention kind 'c'; choose one of: a, b"):
        kinds.check("c")
    kinds.check("a")


def test_a_name_registers_once():
    kinds = Registry[int]("kind")
    kinds.register("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        kinds.register("a", 2)
