"""A small typed registry: name -> lazily imported object, with did-you-mean errors.

Used for the generators (``sweep.generators.GENERATORS``), the proxy tasks
(``proxy_tasks.PROXY_TASKS``) and the downstream datasets (``proxy_tasks.downstream.DOWNSTREAMS``).

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
    Names are listed sorted, or in registration order when ``ordered`` is true.
    """

    def __init__(self, kind: str, *, ordered: bool = False) -> None:
        self.kind = kind
        self.ordered = ordered
        self._entries: dict[str, str | T] = {}

    def register(self, name: str, target: str | T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = target

    def names(self) -> list[str]:
        return list(self._entries) if self.ordered else sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The object registered as ``name``; a :class:`SweepError` with a suggestion otherwise."""
        try:
            entry = self._entries[name]
        except KeyError:
            raise unknown(self.kind, name, self._entries) from None
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry
