"""Structured errors of the study file: :class:`SchemaError`, and what validators raise.

Every mistake in a study file becomes one :class:`SchemaError` with the file, the line, the key
path (a tuple such as ``("search", "freq", "low")``), a ``kind`` and the message; ``str(err)`` is
the one line the command line prints, ``file:line: key.path: message``. Validators of the typed
models raise :class:`Invalid` (a ``ValueError``, so pydantic collects it) with the key path below
the field they check; :func:`sweep.schema.document.from_validation_error` turns pydantic's
errors into a :class:`SchemaError` by their location, never by reading message text.

Imports: the standard library and :mod:`sweep.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sweep.errors import SweepError, did_you_mean

#: the kinds of :class:`SchemaError`, most fundamental first (the order errors are reported in)
KINDS = ("file", "yaml", "duplicate_key", "unknown_key", "missing", "type", "value")


class SchemaError(SweepError):
    """A mistake in a study file, located: ``file``, ``line`` (None: the file as a whole),
    ``path`` (the key path), ``kind`` (one of :data:`KINDS`) and ``message``."""

    def __init__(self, file: str, line: int | None, path: tuple, kind: str, message: str) -> None:
        self.file, self.line, self.path = str(file), line, tuple(path)
        self.kind, self.message = kind, message
        super().__init__(self._text())

    @property
    def dotted(self) -> str:
        """The key path as written in messages: ``search.freq.targets.0``."""
        return ".".join(str(k) for k in self.path)

    def _text(self) -> str:
        head = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{head}: {self.dotted}: {self.message}" if self.path else f"{head}: {self.message}"

    def __reduce__(self):  # picklable (worker processes)
        return (type(self), (self.file, self.line, self.path, self.kind, self.message))


class Invalid(ValueError):
    """Raised by a model's validator: ``message`` about the key ``path`` below the field (or
    model) being validated; pydantic keeps the exception in the error's context."""

    def __init__(self, message: str, path: Iterable[Any] = (), kind: str = "value") -> None:
        super().__init__(message)
        self.message, self.path, self.kind = message, tuple(path), kind


def unknown_key(key: Any, valid: Iterable[str], noun: str = "key", suffix: str = "") -> str:
    """``unknown key (did you mean 'x'?); valid: a, b, c`` (``noun``: key, profile, ...)."""
    valid = list(valid)
    return f"unknown {noun}{did_you_mean(str(key), valid)}; valid: {', '.join(valid)}{suffix}"


def detail(err: SweepError, label: str) -> str:
    """What ``err`` says about ``label``: its ``message`` when it carries one, else its text
    without the ``label: `` it was asked to start with (the generators' and the storage's
    checks take the label to print; see :meth:`sweep.generators.base.Param.validate`)."""
    message = getattr(err, "message", None)
    if isinstance(message, str):
        return message
    return str(err).removeprefix(f"{label}: ")
