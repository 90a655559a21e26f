"""The second pass over a study file's fixed values, one profile at a time.

:func:`check_fixed` checks the fixed generator parameters (each one by the generator's own
:meth:`~sweep.generators.base.Generator.resolve_params`) and the recipe overrides (their
combination by :func:`proxy_tasks.recipe.make_recipe`) of a profile; :func:`check_combined`
checks them together (a generator at the recipe's image size, its cross-parameter rules). Errors
point at the key that was written: ``profiles.<p>.generator.X`` over ``generator.params.X``,
``profiles.<p>.recipe.X`` over ``proxy.recipe.X``.

Imports: the standard library, :mod:`proxy_tasks.recipe`, :mod:`sweep.errors`,
:mod:`sweep.generators` and this package's ``errors`` and ``study``.
"""

from __future__ import annotations

from typing import Any

from proxy_tasks.recipe import Recipe, RecipeError, make_recipe
from sweep.errors import SweepError
from sweep.generators import generator_class
from sweep.schema.errors import detail
from sweep.schema.study import StudyFile


def generator_key(doc: StudyFile, profile: str, key: str) -> tuple:
    """Where fixed generator parameter ``key`` of ``profile`` was written."""
    if key in doc.profile(profile).generator:
        return ("profiles", profile, "generator", key)
    return ("generator", "params", key) if key in doc.generator.params else ("generator", "params")


def recipe_key(doc: StudyFile, profile: str, field: str) -> tuple:
    """Where recipe field ``field`` of ``profile`` was written."""
    if field in doc.profile(profile).recipe.model_fields_set:
        return ("profiles", profile, "recipe", field)
    return ("proxy", "recipe", field) if field in doc.proxy.recipe.model_fields_set else \
        ("proxy", "recipe")  # fmt: skip


def check_fixed(doc: StudyFile, profile: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The generator class, fixed generator parameters and recipe overrides of ``profile``
    (as written), each checked; a :class:`SchemaError` at the offending key otherwise."""
    gen_cls: Any = generator_class(doc.generator.name)
    params = doc.generator_overrides(profile)
    for key, value in params.items():
        try:
            gen_cls.resolve_params({key: value})
        except SweepError as e:
            raise doc.error(generator_key(doc, profile, key), detail(e, key)) from None
    recipe = doc.recipe_overrides(profile)
    recipe_of(doc, profile, recipe)
    return gen_cls, params, recipe


def recipe_of(doc: StudyFile, profile: str, recipe: dict[str, Any]) -> Recipe:
    """``make_recipe(profile, recipe)``; its error at the field written in the file."""
    try:  # the whole combination: fields constrain each other (num_heads | embed_dim, ...)
        return make_recipe(profile, recipe)
    except RecipeError as e:
        raise doc.error(recipe_key(doc, profile, e.field), e.message) from None


def check_combined(doc: StudyFile, gen_cls: Any, profile: str) -> None:
    """The fixed generator parameters at the recipe's image size, checked together; an error
    points at the parameter the generator names (``SweepError.key``) when it was written, else
    at the one whose addition (in the order written) breaks the configuration."""
    params = doc.generator_overrides(profile)
    r = recipe_of(doc, profile, doc.recipe_overrides(profile))
    try:
        gen_cls(params, image_size=r.img_size)
    except SweepError as e:
        key = getattr(e, "key", None)  # the parameter the generator's own check names
        if key not in params:
            key = culprit(gen_cls, params, r.img_size)
        keys = generator_key(doc, profile, key) if key else ("generator", "params")
        raise doc.error(keys, f"{e} ({profile} profile)") from None


def culprit(gen_cls: Any, params: dict[str, Any], image_size: int) -> str | None:
    """The first key of ``params`` that, added to those before it, makes ``gen_cls`` refuse
    the configuration; None when the defaults alone are refused."""
    so_far: dict[str, Any] = {}
    for key in [None, *params]:
        if key is not None:
            so_far[key] = params[key]
        try:
            gen_cls(so_far, image_size=image_size)
        except SweepError:
            return key
    return None
