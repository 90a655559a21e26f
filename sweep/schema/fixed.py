"""The second pass over a study file's fixed values, one profile at a time.

:func:`check_fixed` checks the fixed generator parameters (each one by the generator's own
:meth:`~sweep.generators.base.Generator.resolve_params`) and the recipe overrides (their
combination by :func:`proxy_tasks.recipe.make_recipe`) of a profile; :func:`check_combined`
checks them together (a generator at the recipe's image size, its cross-parameter rules). Errors
point at the key that was written: ``profiles.<p>.generator.X`` over ``generator.params.X``,
``profiles.<p>.recipe.X`` over ``proxy.recipe.X``.

:func:`check_families` does both for a study that searches the generator (its
``generator.families``); :func:`trial_family` picks the family ``sweep trial --set`` asks for.

Imports: the standard library, :mod:`proxy_tasks.recipe`, :mod:`sweep.errors`,
:mod:`sweep.generators` and this package's ``errors`` and ``study``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy_tasks.recipe import Recipe, RecipeError, make_recipe
from sweep.errors import SweepError, did_you_mean
from sweep.generators import generator_class
from sweep.schema.errors import detail
from sweep.schema.search import family_entry
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
    return (
        ("proxy", "recipe", field)
        if field in doc.proxy.recipe.model_fields_set
        else ("proxy", "recipe")
    )


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


def check_families(doc: StudyFile, family: str | None, choices: tuple) -> None:
    """The fixed values of a family study (search entry ``family`` over ``choices``): the
    reference family ``generator.name`` is a choice, fixed parameters only per family
    (``generator.families.<choice>``), each checked by that generator at each profile's image
    size. Without a family search, ``generator.families`` is refused."""
    from sweep.devices import PROFILES

    fams = doc.generator.families
    if family is None:
        if fams:
            raise doc.error(
                ("generator", "families"),
                "per-family parameters apply to a study "
                "that searches the generator: add a search entry with targets: "
                "[generator]",
            )
        return
    if doc.generator.name not in choices:
        raise doc.error(
            ("generator", "name"),
            f"'{doc.generator.name}' is not one of "
            f"search.{family}.choices {list(choices)}: the generator named here is "
            "the study's published reference, so it must be searched",
        )
    why = (
        f"a study that searches the generator (search.{family}) fixes parameters per "
        f"family: write them under generator.families.<name>"
    )
    if doc.generator.params:
        raise doc.error(("generator", "params"), why)
    for prof in PROFILES:
        if doc.profile(prof).generator:
            raise doc.error(("profiles", prof, "generator"), why)
    for name, params in fams.items():
        if name not in choices:
            raise doc.error(
                ("generator", "families", name),
                f"'{name}' is not one of search.{family}.choices {list(choices)}",
            )
        gen_cls: Any = generator_class(name)
        for key, value in params.items():
            try:
                gen_cls.resolve_params({key: value})
            except SweepError as e:
                raise doc.error(("generator", "families", name, key), detail(e, key)) from None
        for prof in PROFILES:
            r = recipe_of(doc, prof, doc.recipe_overrides(prof))
            try:
                gen_cls(params, image_size=r.img_size)
            except SweepError as e:
                bad = getattr(e, "key", None)
                if bad not in params:
                    bad = culprit(gen_cls, params, r.img_size)
                keys = ("generator", "families", name, *((bad,) if bad else ()))
                raise doc.error(keys, f"{e} ({prof} profile)") from None


def trial_family(
    doc: StudyFile, params: dict[str, Any], sets: Mapping[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``sweep trial``'s generator, its fixed parameters and the other ``--set`` keys: in a
    family study ``--set family=NAME`` (the search entry's name, or ``generator=NAME``) runs
    that family with its ``generator.families`` parameters (default: ``generator.name``);
    otherwise the file's generator and ``params`` as they are."""
    fam = family_entry(doc)
    rest = dict(sets)
    if fam is None:
        return doc.generator.name, params, rest
    name = doc.generator.name
    for key in (fam, "generator"):
        if key in rest:
            name = rest.pop(key)
            choices = [str(c) for c in doc.search[fam].choices or ()]
            if name not in choices:
                raise SweepError(
                    f"--set {key}: {name!r} is not one of search.{fam}.choices"
                    f"{did_you_mean(str(name), choices)}; choose one of: "
                    f"{', '.join(choices)}"
                )
    return str(name), dict(doc.generator.families.get(name, {})), rest
