"""The study file's JSON Schema, generated from the typed models, and its shipped copy.

``sweep schema`` prints :func:`study_json_schema`; ``sweep/schema/study.schema.json`` is the same
text, shipped with the package for editors (a YAML language server validates and completes a
study file against it). A test keeps the shipped copy equal to what the models generate.

The schema describes the shape and types of each key; the checks that span keys (a generator
parameter's domain, a searched range against its targets) are ``sweep validate``'s.

Field descriptions come from the attribute docstrings of the models (the string under each
field), read from their source here, when a schema is asked for: pydantic's own
``use_attribute_docstrings`` would read every model's source at import, which costs
``sweep validate`` about 60 ms a run (``benchmarks/startup.py``).

Imports: the standard library, :mod:`sweep.schema.base` and :mod:`sweep.schema.study`.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import textwrap
from pathlib import Path
from typing import Any

from sweep.schema.base import Section
from sweep.schema.study import StudyFile

#: the shipped copy (package data)
SCHEMA_FILE = Path(__file__).with_name("study.schema.json")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def attribute_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of the fields ``cls`` declares (a string right under a field)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (a frozen build): no descriptions
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _sections(cls: type[Section]) -> list[type[Section]]:
    out: list[type[Section]] = []
    for sub in cls.__subclasses__():
        out += [sub, *_sections(sub)]
    return out


def _describe(props: dict[str, Any], model: type) -> None:
    fields = getattr(model, "model_fields", {})
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):  # a subclass's docstring wins
        if isinstance(klass, type) and issubclass(klass, Section):
            docs.update(attribute_docs(klass))
    for name, doc in docs.items():
        f = fields.get(name)
        key = (f.alias or name) if f is not None else name
        if key in props and "description" not in props[key]:
            props[key] = dict(sorted({**props[key], "description": doc}.items()))


def study_json_schema() -> dict[str, Any]:
    """The JSON Schema of a study file (draft 2020-12), fields described by their docstrings."""
    schema = StudyFile.model_json_schema(mode="validation")
    by_title = {m.model_json_schema().get("title", m.__name__): m for m in _sections(Section)}
    _describe(schema.get("properties", {}), StudyFile)
    for title, sub in schema.get("$defs", {}).items():
        if title in by_title:
            _describe(sub.get("properties", {}), by_title[title])
    return {"$schema": DIALECT, **schema, "title": "sweep study file"}


def study_json_schema_text() -> str:
    """:func:`study_json_schema` as the text of the shipped file."""
    return json.dumps(study_json_schema(), indent=2, ensure_ascii=False) + "\n"
