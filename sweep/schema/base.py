"""The base of every section of the study file's schema, and the small checks they share.

:class:`Section` is a frozen pydantic model that forbids unknown keys; before its fields are
validated it refuses a value that is not a mapping, an unknown key (with a did-you-mean and the
valid keys in the order they are declared) and a missing required key, each with the message the
section declares. Field checks raise :class:`~sweep.schema.errors.Invalid` with the message
the command line prints, so a file's mistakes read the same whichever section they are in.

Imports: the standard library, pydantic, :mod:`sweep.errors`, :mod:`sweep.values` and
:mod:`sweep.schema.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, model_validator

from sweep.errors import did_you_mean
from sweep.schema.errors import Invalid, unknown_key
from sweep.values import is_int

Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)

#: the JSON Schema of a number as a YAML 1.1 reader may leave it (``1e-3``: a string)
NUMBER_SCHEMA = {
    "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^[-+]?[0-9.]+[eE][-+]?[0-9]+$"}]
}


class Section(BaseModel):
    """A mapping of the study file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: "unknown <noun>": key, profile, resource, recipe field
    unknown_noun: ClassVar[str] = "key"
    #: said after the list of valid keys
    unknown_suffix: ClassVar[str] = ""
    #: required key -> the message when it is missing
    required: ClassVar[dict[str, str]] = {}

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys of this section as written in a file, in declaration order."""
        return tuple(f.alias or name for name, f in cls.model_fields.items())

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return f"expected a mapping, got {type(value).__name__}"

    @classmethod
    def unknown(cls, key: str) -> str:
        return unknown_key(key, cls.keys(), cls.unknown_noun, cls.unknown_suffix)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            return data
        if not isinstance(data, Mapping):
            raise Invalid(cls.not_mapping(data), kind="type")
        keys = cls.keys()
        for k in data:
            if k not in keys:
                raise Invalid(cls.unknown(str(k)), (k,), "unknown_key")
        for k, message in cls.required.items():
            if k not in data:
                raise Invalid(message, kind="missing")
        return data

    def written(self) -> dict[str, Any]:
        """The keys the file wrote (by attribute name), with their values."""
        return {k: getattr(self, k) for k in type(self).model_fields if k in self.model_fields_set}


# ----------------------------------------------------------------------------- shared checks
def mapping_or_empty(value: Any) -> Any:
    """A mapping, or null for an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid(f"expected a mapping, got {type(value).__name__}", kind="type")
    return value


def positive_int(value: Any, what: str) -> int:
    if not is_int(value) or value < 1:
        raise Invalid(f"expected a positive integer ({what}), got {value!r}", kind="type")
    return value


def direction(value: Any) -> str:
    if value not in DIRECTIONS:
        raise Invalid(
            f"direction {value!r}{did_you_mean(str(value), DIRECTIONS)}: use maximize or minimize"
        )
    return value
