"""Recipe overrides in a study file (``proxy.recipe``, ``profiles.<p>.recipe``, a calibration
level's ``recipe``) and the routing of ``--set`` keys.

:class:`RecipeOverrides` is generated from :class:`proxy_tasks.recipe.Recipe`'s fields, every one
optional, so it cannot fall behind the recipe: each written value is checked on its own by
:func:`proxy_tasks.recipe.check_field` and kept as written (the combination of fields, which
constrain each other, is checked per profile by :func:`proxy_tasks.recipe.make_recipe` in the
second pass, :mod:`sweep.schema.fixed`).

Imports: the standard library, pydantic, :mod:`proxy_tasks.recipe`, :mod:`sweep.errors`,
:mod:`sweep.schema.base`, :mod:`sweep.schema.errors`; :mod:`sweep.generators` (lazily, for
``--set``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, ValidationInfo, WithJsonSchema, create_model, field_validator

from proxy_tasks.recipe import (
    FIELDS,
    HEADLINES,
    PRECISIONS,
    PRESETS,
    RecipeError,
    check_field,
    unknown_field_message,
)
from sweep.errors import SweepError, did_you_mean
from sweep.schema.base import Section
from sweep.schema.errors import Invalid


def _json_type(name: str, default: Any) -> dict[str, Any]:
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int):
        return {"type": "integer"}
    if isinstance(default, float):
        return {"type": "number"}
    if isinstance(default, str):
        enum = {"headline": HEADLINES, "precision": PRECISIONS}.get(name)
        return {"type": "string", **({"enum": list(enum)} if enum else {})}
    if name == "downstreams":
        return {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}


def _describe(name: str, default: Any) -> str:
    def show(v: Any) -> str:
        return str(list(v) if isinstance(v, tuple) else v)

    presets = [f"{p} preset {show(PRESETS[p][name])}" for p in PRESETS if name in PRESETS[p]]
    return f"recipe field {name}: default {show(default)}" + (
        f" ({', '.join(presets)})" if presets else ""
    )


class _Overrides(Section):
    unknown_noun = "recipe field"

    @classmethod
    def unknown(cls, key: str) -> str:
        return unknown_field_message(key)

    @field_validator("*", mode="before")
    @classmethod
    def _check(cls, value: Any, info: ValidationInfo) -> Any:
        try:
            check_field(str(info.field_name), value)
        except RecipeError as e:
            raise Invalid(e.message, kind="type") from None
        return value  # as written: make_recipe coerces it


def _fields() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, f in FIELDS.items():
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = Annotated[Any, WithJsonSchema(_json_type(name, default))]
        out[name] = (kind, Field(None, description=_describe(name, default)))
    return out


#: overrides of the recipe preset: every field of ``proxy_tasks.recipe.Recipe``, optional
if TYPE_CHECKING:
    RecipeOverrides = _Overrides
else:
    RecipeOverrides = create_model(
        "RecipeOverrides",
        __base__=_Overrides,
        __doc__="Overrides of the profile's recipe preset (proxy_tasks.recipe.Recipe); every "
        "field optional.",
        **_fields(),
    )


def split_overrides(
    generator: str, sets: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route ``--set`` keys to the generator or the recipe.

    ``generator.X`` and ``recipe.X`` are explicit; a bare name goes to whichever of the two
    defines it (generator first).
    """
    from sweep.generators import generator_class

    gen_cls: Any = generator_class(generator)
    gen_names = set(gen_cls.param_names())
    rec_names = set(FIELDS)
    gen, rec = {}, {}
    for key, value in sets.items():
        prefix, _, name = key.rpartition(".")
        if prefix == "generator" or (not prefix and name in gen_names):
            gen[name] = value
        elif prefix == "recipe" or (not prefix and name in rec_names):
            rec[name] = value
        else:
            hint = did_you_mean(name, sorted(gen_names | rec_names))
            raise SweepError(
                f"--set {key}: not a parameter of generator '{generator}' nor a recipe field{hint}"
            )
    return gen, rec
