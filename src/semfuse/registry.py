"""One registry type for every named thing: fusion methods, metrics, networks, attention kinds, bundled weights.

A :class:`Registry` maps names to items in the order they were registered; asking for a name it does not hold
raises :class:`UnknownNameError`, one line that lists the valid names. This module imports nothing heavy (no
torch), so the command line can build its choices from registries of plain names.
"""

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from semfuse.errors import SemfuseError

T = TypeVar("T")


class UnknownNameError(SemfuseError, KeyError, ValueError):
    """A name that a registry does not hold; the message lists the names it does.

    It is a :class:`SemfuseError` (the command line prints it as one line) and, for callers written against the
    mappings registries replaced, also a ``KeyError`` and a ``ValueError``.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Named items of one kind, in registration order.

    Args:
        kind: what an item is, for messages (``"fusion method"``, ``"attention kind"``).
        sort_names: list the valid names sorted in the unknown-name message (else in registration order).

    Example:
        >>> colours = Registry[int]("colour")
        >>> colours.register("red", 1)
        1
        >>> colours["red"], "blue" in colours, colours.names
        (1, False, ('red',))
        >>> colours["blue"]
        Traceback (most recent call last):
        ...
        semfuse.registry.UnknownNameError: unknown colour 'blue'; choose one of: red
    """

    def __init__(self, kind: str, sort_names: bool = False):
        self.kind = kind
        self.sort_names = sort_names
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name`` and return it; a name may be registered once."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator(name)``: register the decorated object under ``name``."""
        return lambda item: self.register(name, item)

    def __getitem__(self, name: str) -> T:
        self.check(name)
        return self._items[name]

    def check(self, name: str) -> None:
        """Raise :class:`UnknownNameError` unless ``name`` is registered (for validating a name before use)."""
        if name not in self._items:
            raise UnknownNameError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        """The one-line message for a name that is not registered."""
        return f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.listed_names())}"

    def listed_names(self) -> list[str]:
        """The names in the order messages and ``--help`` list them."""
        return sorted(self._items) if self.sort_names else list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name, in registration order."""
        return tuple(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, item)`` pairs in registration order."""
        return list(self._items.items())

    def values(self) -> list[T]:
        """Every item in registration order."""
        return list(self._items.values())
