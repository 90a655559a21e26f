"""A small typed registry: name -> lazily imported object, with did-you-mean errors.

The one registry type of the project: the generators (``sweep.generators.GENERATORS``), the proxy
tasks (``proxy_tasks.PROXY_TASKS``), the downstream datasets
(``proxy_tasks.downstream.DOWNSTREAMS``), the storage kinds (``sweep.storage.STORAGE_KINDS``),
the backends (``sweep.backends.BACKENDS``), the samplers and the pruners
(``sweep.samplers.SAMPLERS``, ``PRUNERS``). A lower layer names an entry of a higher one as a
``"module:attr"`` string: looking it up imports it, listing the names imports nothing.

Imports: the standard library and :mod:`sweep.errors`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from sweep.errors import unknown

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects given as ``"module:attr"`` strings, imported on first use.

    Lazy entries keep ``sweep --help`` fast: nothing heavy is imported until a name is looked up.
    Names are listed sorted, or in registration order when ``ordered`` is true. A registry is a
    collection of its names (``in``, ``len``, iteration), so it stands wherever a tuple of names
    did (argparse choices, ``Literal[tuple(registry)]``, did-you-mean hints).
    """

    def __init__(self, kind: str, *, ordered: bool = False) -> None:
        self.kind = kind
        self.ordered = ordered
        self._entries: dict[str, str | T] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, target: str | T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = target

    def names(self) -> list[str]:
        return list(self._entries) if self.ordered else sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:  # an unhashable value read from a file (a list, a mapping)
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def target(self, name: str) -> str:
        """Where ``name`` lives, as ``"module:attr"``, without importing it."""
        entry = self._entry(name)
        if isinstance(entry, str):
            return entry
        return f"{getattr(entry, '__module__', '?')}:{getattr(entry, '__qualname__', entry)}"

    def get(self, name: str) -> T:
        """The object registered as ``name``; a :class:`SweepError` with a suggestion otherwise."""
        entry = self._entry(name)
        if not isinstance(entry, str):
            return entry
        if name not in self._loaded:
            module, _, attr = entry.partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]

    def _entry(self, name: str) -> str | T:
        if name not in self:
            raise unknown(self.kind, str(name), self._entries)
        return self._entries[name]
