"""A griffe extension for the documentation site: semfuse's docstrings as their readers in an editor see them.

Two conventions of the docstrings that mkdocstrings would otherwise render wrongly:

* ``Example:`` sections (Google style, as Napoleon reads it) are doctests. griffe's Google parser knows the plural
  ``Examples:`` only and would render the ``>>>`` lines as nested quotes; the extension renames the heading, so
  the examples render as Python sessions.
* Sphinx roles become cross-references (below).

semfuse's docstrings name other objects the Sphinx way (:func:`predict`, :class:`~semfuse.registry.Registry`,
:mod:`.fusion`), which read well in ``help()`` and an editor. Markdown would show them as they are typed, so this
extension rewrites each role, before mkdocstrings renders the docstring, into an optional mkdocs-autorefs
cross-reference: a link where the site documents the object, its name in code font where it does not (a private
helper, a module the reference leaves out). The target is resolved as Sphinx does, from the innermost scope
outwards (the object, its class, its module), then as a full path; ``~`` shows only the last part of the name. A
role whose target exists nowhere in the package is a broken reference: it is logged as a warning, which fails the
strict build, where the site can show the docstring (a public object of a public module). A builtin or another
library's name (:class:`KeyboardInterrupt`, :func:`torch.compile`) and a name a module exports lazily (in its
``__all__``, made by ``__getattr__``) are shown in code font.
"""

import builtins
import html
import re
from collections.abc import Iterator

import griffe

EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|meth|attr|obj|exc|const):`(?P<tilde>~?)(?P<target>\.*[\w.]+)`")


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and every object it defines (aliases, i.e. imported names, are documented where they are defined)."""
    yield obj
    for member in obj.members.values():
        if isinstance(member, griffe.Object):
            yield from _objects(member)


def _resolve(obj: griffe.Object, target: str, loader: griffe.GriffeLoader) -> str | None:
    """The full path of the object that ``target``, written in ``obj``'s docstring, names; None if none does."""
    name = target.lstrip(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        if scope.is_class or scope.is_module:
            try:
                found = scope[name]
            except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                found = None
            if found is not None:
                return _final_path(found)
        scope = scope.parent
    try:
        return _final_path(loader.modules_collection[name])
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return name if _lazy_export(name, loader) else None


def _lazy_export(name: str, loader: griffe.GriffeLoader) -> bool:
    """Whether ``name`` is ``module.attribute`` with the attribute in the module's ``__all__`` but defined only at
    run time (PEP 562 ``__getattr__``, as ``semfuse`` exports its API without importing torch)."""
    module_path, _, attribute = name.rpartition(".")
    try:
        module = loader.modules_collection[module_path] if module_path else None
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    exports = getattr(module, "exports", None) or ()
    return attribute in {str(export) for export in exports}


def _shown(obj: griffe.Object) -> bool:
    """Whether the site can show ``obj``'s docstring: it and every object around it are public."""
    scope: griffe.Object | None = obj
    while scope is not None:
        if not scope.is_public:
            return False
        scope = scope.parent
    return True


def _final_path(found: griffe.Object | griffe.Alias) -> str:
    """The path where an object is defined (an imported name's target), or where it was found."""
    if isinstance(found, griffe.Alias):
        try:
            return found.final_target.path
        except griffe.AliasResolutionError:
            pass
    return found.path


def _outside(target: str, obj: griffe.Object) -> bool:
    """Whether ``target`` names something outside the package: a builtin (KeyboardInterrupt) or another library."""
    first = target.split(".", 1)[0]
    if target.startswith(".") or first == obj.package.name:
        return False
    return hasattr(builtins, first) or "." in target


class SemfuseDocstrings(griffe.Extension):
    """Rename ``Example:`` sections and rewrite Sphinx roles into optional cross-references, in every docstring of a
    loaded package, before any is parsed."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: object) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None:
                value = EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
                obj.docstring.value = ROLE.sub(lambda match: self._reference(obj, match, loader), value)

    @staticmethod
    def _reference(obj: griffe.Object, match: re.Match, loader: griffe.GriffeLoader) -> str:
        target = match["target"]
        title = target.lstrip(".").rsplit(".", 1)[-1] if match["tilde"] else target
        path = _resolve(obj, target, loader)
        if path is None and (_outside(target, obj) or not _shown(obj)):
            return f"`{title}`"
        if path is None:
            griffe.logger.warning(f"{obj.path}: the docstring names {match[0]}, which is not in the package")
            return f"`{title}`"
        return f'<autoref identifier="{html.escape(path)}" optional><code>{html.escape(title)}</code></autoref>'
