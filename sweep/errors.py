"""User-facing errors.

Every mistake a user can make (a bad flag, an unknown generator, a range written backwards) raises
:class:`SweepError`. The command line prints its message on ONE line and exits with status 2,
before anything is written. Messages name the offending key or file and say how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SweepError(Exception):
    """A user error: bad input, reported on one line; the CLI exits with status 2.

    ``SweepError(message, key=label)`` is about one key, flag or parameter: its text is
    ``label: message``, and ``err.key`` / ``err.message`` keep the two parts, so a caller that
    knows where the key was written (the study file's schema) re-locates the message without
    reading it back out of the text.
    """

    exit_code = 2

    def __init__(self, message: str = "", *, key: str | None = None) -> None:
        if key is not None:
            self.key, self.message = key, message
            message = f"{key}: {message}"
        super().__init__(message)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> SweepError:
    """The standard error for an unknown registry name or key, with a did-you-mean."""
    choices = sorted(choices)
    hint = did_you_mean(name, choices)
    return SweepError(f"unknown {kind} '{name}'{hint}; choose one of: {', '.join(choices)}")
