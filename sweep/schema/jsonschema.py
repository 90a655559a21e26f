"""The study file's JSON Schema, generated from the typed models, and its shipped copy.

``sweep schema`` prints :func:`study_json_schema`; ``sweep/schema/study.schema.json`` is the same
text, shipped with the package for editors (a YAML language server validates and completes a
study file against it). A test keeps the shipped copy equal to what the models generate.

The schema describes the shape and types of each key; the checks that span keys (a generator
parameter's domain, a searched range against its targets) are ``sweep validate``'s.

Imports: the standard library and :mod:`sweep.schema.study`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sweep.schema.study import StudyFile

#: the shipped copy (package data)
SCHEMA_FILE = Path(__file__).with_name("study.schema.json")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def study_json_schema() -> dict[str, Any]:
    """The JSON Schema of a study file (draft 2020-12)."""
    schema = StudyFile.model_json_schema(mode="validation")
    return {"$schema": DIALECT, **schema, "title": "sweep study file"}


def study_json_schema_text() -> str:
    """:func:`study_json_schema` as the text of the shipped file."""
    return json.dumps(study_json_schema(), indent=2, ensure_ascii=False) + "\n"
