"""Reading a study file into its typed model: :func:`load_study_file`.

The file is read once (:func:`sweep.schema.yamlfile.load_yaml`: plain data and the line of every
key path) and validated once into a frozen :class:`~sweep.schema.study.StudyFile`. pydantic's
errors are turned into one :class:`~sweep.schema.errors.SchemaError` by their location (the key
path) and the :class:`~sweep.schema.errors.Invalid` a validator raised: when a file has several
mistakes, the most fundamental kind is reported first (unknown keys before missing ones before
bad values), then the earliest line.

Imports: the standard library, pydantic and this package's ``errors``, ``yamlfile``, ``study``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from sweep.schema.errors import KINDS, Invalid, SchemaError
from sweep.schema.study import StudyFile
from sweep.schema.yamlfile import Source, load_yaml


def load_study_file(path: str | Path, text: str | None = None) -> StudyFile:
    """The study file at ``path`` (or ``text``, named ``path``) as a :class:`StudyFile` (its
    ``source`` set); every mistake of shape or type raises one :class:`SchemaError`
    ``file:line: key.path: message``."""
    data, source = load_yaml(path, text)
    try:
        doc = StudyFile.model_validate(data)
    except ValidationError as e:
        raise from_validation_error(e, source) from None
    doc._source = source
    return doc


def from_validation_error(exc: ValidationError, source: Source) -> SchemaError:
    """The first of ``exc``'s errors (see the module docstring) as a :class:`SchemaError`."""
    found = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Invalid):
            path, kind, message = (*loc, *cause.path), cause.kind, cause.message
        elif err["type"] == "extra_forbidden":
            path, kind, message = loc, "unknown_key", "unknown key"
        elif err["type"] == "missing":
            path, kind, message = loc[:-1], "missing", f"missing key '{loc[-1]}'"
        else:  # a type pydantic checked itself: its words, then the value
            kind = "type" if err["type"].endswith(("_type", "_parsing")) else "value"
            text = err["msg"]
            path, message = loc, f"{text[:1].lower()}{text[1:]}, got {err.get('input')!r}"
        found.append(source.error(path, message, kind))
    return min(found, key=lambda e: (KINDS.index(e.kind), e.line or 0))
