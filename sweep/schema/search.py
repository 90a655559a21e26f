"""The second pass over a study file's ``search:`` section: entries -> :class:`ParamSpec`.

Each entry's targets are resolved (a generator parameter, ``recipe.<field>``, or ``generator``:
the generator itself, a categorical over registered names, after which only recipe fields can be
searched besides), its type
inferred from its first target when not written, its bounds, step and ``min_width`` checked,
and every value it can take checked by its targets' own checks (the generator's domain,
:func:`proxy_tasks.recipe.make_recipe` for both profiles). :func:`probe` then catches
configurations the generator rejects as a whole (VisualAtom's n2 != n1) before any trial runs.

Imports: the standard library, :mod:`proxy_tasks.recipe`, :mod:`sweep.devices` (profile names),
:mod:`sweep.errors`, :mod:`sweep.generators`, :mod:`sweep.space`, :mod:`sweep.values` and
this package's ``errors`` and ``study``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from proxy_tasks.recipe import FIELDS, RecipeError, make_recipe
from sweep.devices import PROFILES
from sweep.errors import SweepError, did_you_mean
from sweep.generators import GENERATORS, generator_class
from sweep.schema.errors import detail
from sweep.schema.study import SearchEntry, StudyFile
from sweep.space import GENERATOR_TARGET, PARAM_TYPES, ParamSpec, apply_values, generator_of
from sweep.values import freeze, is_int, is_number, jsonable, yaml_float

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: searched type -> target types it can set (categorical sets anything its choices fit)
COMPATIBLE = {
    "int": ("int", "float"),
    "float": ("float",),
    "int_range": ("int_range", "float_range"),
    "float_range": ("float_range",),
}


def parse_search(doc: StudyFile, gen_cls: Any) -> tuple[ParamSpec, ...]:
    """Every search entry as a :class:`ParamSpec`; a :class:`SchemaError` at the first
    mistake. Each generator parameter and recipe field is searched at most once."""
    if not doc.search:
        raise doc.error(
            ("search",),
            "empty search space: add at least one parameter, e.g. "
            "search: {orbits: {type: int_range, low: 1, high: 200}}",
        )
    specs: list[ParamSpec] = []
    owner: dict[str, str] = {}
    names: dict[str, str] = {}
    family = family_entry(doc)
    for name, entry in doc.search.items():
        spec = _Entry(doc, gen_cls, str(name), entry, family).parse()
        for t in spec.targets:
            if t in owner:
                keys = (
                    ("search", name, "targets", spec.targets.index(t))
                    if "targets" in entry.model_fields_set
                    else ("search", name)
                )
                raise doc.error(
                    keys,
                    f"'{t}' is already searched by search.{owner[t]}; search each parameter once",
                )
            owner[t] = name
        for n in spec.optuna_names():
            if n in names:
                raise doc.error(
                    ("search", name),
                    f"its Optuna name '{n}' clashes with search.{names[n]}; rename one",
                )
            names[n] = name
        specs.append(spec)
    return tuple(specs)


def family_entry(doc: StudyFile) -> str | None:
    """The name of the search entry that searches the generator (``targets: [generator]``)."""
    for name, entry in doc.search.items():
        raw = entry.targets if "targets" in entry.model_fields_set else [name]
        if raw == GENERATOR_TARGET or (isinstance(raw, list) and GENERATOR_TARGET in raw):
            return str(name)
    return None


def _recipe_kind(default: Any) -> str:
    if isinstance(default, bool) or isinstance(default, str):
        return "categorical"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, tuple) and len(default) == 2 and all(is_number(v) for v in default):
        return "float_range"
    return "categorical"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


class _Entry:
    """One search entry being read: the file, the generator, its name and key path."""

    def __init__(
        self, doc: StudyFile, gen_cls: Any, name: str, entry: SearchEntry, family: str | None
    ) -> None:
        self.doc, self.gen_cls, self.name, self.entry = doc, gen_cls, name, entry
        self.family = family  # the entry that searches the generator, if any
        self.at = ("search", name)
        self.written = entry.model_fields_set

    def error(self, keys: tuple, message: str, kind: str = "value") -> SweepError:
        return self.doc.error(keys, message, kind)

    def target_keys(self, i: int) -> tuple:
        return (*self.at, "targets", i) if "targets" in self.written else self.at

    def parse(self) -> ParamSpec:
        name, at = self.name, self.at
        if not NAME_RE.match(name) or name.endswith((".min", ".span")):
            raise self.error(
                at,
                "a parameter name starts with a letter or '_' and holds letters, "
                "digits, '_', '.' or '-' (not ending in .min or .span)",
            )
        targets, kinds = self.targets()
        ptype = self.entry.type
        if "type" not in self.written or ptype is None:
            if "choices" in self.written:
                ptype = "categorical"
            else:
                ptype = kinds[0][2]
        elif ptype not in PARAM_TYPES:
            hint = did_you_mean(str(ptype), PARAM_TYPES)
            raise self.error(
                (*at, "type"),
                f"unknown type {ptype!r}{hint}; choose one of: {', '.join(PARAM_TYPES)}",
            )
        if targets == [GENERATOR_TARGET] and ptype != "categorical":
            raise self.error(
                (*at, "type"),
                "searching the generator is categorical: write "
                "type: categorical, generator names under choices",
            )
        for i, (t, (_, _, ttype)) in enumerate(zip(targets, kinds, strict=True)):
            if ptype != "categorical" and ttype not in COMPATIBLE[ptype]:
                hint = "; use type: categorical" if ttype == "categorical" else ""
                raise self.error(
                    self.target_keys(i),
                    f"a {ptype} parameter cannot set '{t}', which is {ttype}{hint}",
                )
        self.kinds = dict(zip(targets, kinds, strict=True))
        if ptype == "categorical":
            return self.categorical(tuple(targets))
        return self.numeric(ptype, tuple(targets))

    def targets(self) -> tuple[list[str], list[tuple[str, Any, str]]]:
        """The targets and, for each, (kind, its Param or recipe field name, its type)."""
        raw = self.entry.targets if "targets" in self.written else [self.name]
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise self.error(
                (*self.at, "targets"),
                "expected a non-empty list of generator parameters (or recipe.<field>)",
                "type",
            )
        gen = {p.name: p for p in self.gen_cls.schema}
        valid = [*gen, *(f"recipe.{f}" for f in FIELDS)]
        targets: list[str] = []
        kinds: list[tuple[str, Any, str]] = []
        for i, t in enumerate(raw):
            keys = self.target_keys(i)
            if not isinstance(t, str) or not t:
                raise self.error(keys, f"expected a parameter name, got {t!r}", "type")
            if t == GENERATOR_TARGET:
                if len(raw) > 1:
                    raise self.error(
                        keys,
                        "the generator is a target of its own: write targets: [generator] alone",
                    )
                if self.name != self.family:
                    raise self.error(
                        keys,
                        f"the generator is already searched by "
                        f"search.{self.family}; search it once",
                    )
                targets.append(t)
                kinds.append(("family", None, "categorical"))
                continue
            t = t.removeprefix("generator.")
            field = t[len("recipe.") :] if t.startswith("recipe.") else None
            if field is not None and field in FIELDS:
                kind = ("recipe", field, _recipe_kind(FIELDS[field].default))
            elif field is None and self.family is not None:
                raise self.error(
                    keys,
                    f"'{t}': a study that searches the generator "
                    f"(search.{self.family}) searches recipe.<field> targets "
                    "besides; fix a family's parameters under "
                    "generator.families.<name>",
                )
            elif field is None and t in gen:
                kind = ("gen", gen[t], gen[t].type)
            else:
                what = (
                    "recipe field"
                    if field is not None
                    else f"parameter of generator '{self.gen_cls.name}'"
                )
                more = "" if "targets" in self.written else "; or set targets:"
                raise self.error(
                    keys,
                    f"'{t}' is not a {what}{did_you_mean(t, valid)}; see "
                    f"'sweep ls {self.gen_cls.name}'{more}",
                )
            if t in targets:
                raise self.error(keys, f"'{t}' is listed twice")
            targets.append(t)
            kinds.append(kind)
        return targets, kinds

    def categorical(self, targets: tuple[str, ...]) -> ParamSpec:
        at, entry = self.at, self.entry
        for key in ("low", "high", "log", "step", "min_width"):
            if key in self.written:
                raise self.error(
                    (*at, key),
                    f"'{key}' does not apply to a categorical "
                    "parameter; list the values under choices",
                )
        choices = entry.choices
        if not isinstance(choices, list) or not choices:
            raise self.error(
                (*at, "choices") if "choices" in self.written else at,
                "a categorical parameter needs a non-empty list of choices",
            )
        seen: dict[str, int] = {}
        for i, c in enumerate(choices):
            if isinstance(c, Mapping):
                raise self.error(
                    (*at, "choices", i),
                    "a choice is a number, a string, "
                    "true/false, null or a list (a [min, max] pair)",
                )
            key = json.dumps(c, sort_keys=True)
            if key in seen:
                raise self.error((*at, "choices", i), f"choice {c!r} is listed twice")
            seen[key] = i
            for t in targets:
                self.check_value((*at, "choices", i), t, c)
        return ParamSpec(
            name=self.name, type="categorical", choices=freeze(jsonable(choices)), targets=targets
        )

    def numeric(self, ptype: str, targets: tuple[str, ...]) -> ParamSpec:
        at, entry, written = self.at, self.entry, self.written
        is_int_type, is_range = ptype.startswith("int"), ptype.endswith("_range")
        if "choices" in written:
            raise self.error((*at, "choices"), f"choices apply to type: categorical, not {ptype}")
        vals: dict[str, Any] = {}
        for key in ("low", "high"):
            if key not in written:
                raise self.error(
                    at, f"missing key '{key}': a {ptype} parameter needs low and high", "missing"
                )
            vals[key] = self.number((*at, key), getattr(entry, key), is_int_type)
        low, high = vals["low"], vals["high"]
        if low > high:
            raise self.error(
                (*at, "low"), f"low {_fmt(low)} > high {_fmt(high)}; write low <= high"
            )
        log = entry.log if "log" in written else False
        if not isinstance(log, bool):
            raise self.error((*at, "log"), f"expected true or false, got {log!r}", "type")
        if log and low <= 0:
            raise self.error((*at, "low"), f"log: true needs low > 0, got {_fmt(low)}")
        step = entry.step
        if step is not None:
            step = self.number((*at, "step"), step, is_int_type)
            if step <= 0:
                raise self.error((*at, "step"), f"must be positive, got {_fmt(step)}")
            if log and (not is_int_type or step != 1):
                raise self.error((*at, "step"), "a log-scaled parameter cannot have a step")
            n = (high - low) / step
            if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
                raise self.error(
                    (*at, "step"),
                    f"high - low = {_fmt(high - low)} is not a multiple of step {_fmt(step)}",
                )
            if is_int_type and step == 1:
                step = None
        min_width: float = 0
        if "min_width" in written:
            if not is_range:
                raise self.error((*at, "min_width"), f"min_width applies to ranges, not {ptype}")
            min_width = self.number((*at, "min_width"), entry.min_width, is_int_type)
            if not 0 <= min_width <= high - low:
                raise self.error(
                    (*at, "min_width"),
                    f"must be in [0, high - low] = [0, {_fmt(high - low)}], got {_fmt(min_width)}",
                )
            if step is not None:
                n = min_width / step
                if abs(n - round(n)) > 1e-9 * max(1.0, n):
                    raise self.error(
                        (*at, "min_width"), f"must be a multiple of step {_fmt(step)}"
                    )
        for t in targets:
            if is_range:
                self.check_value((*at, "low"), t, [low, low])
                self.check_value((*at, "high"), t, [high, high])
                self.check_value(at, t, [low, high])
            else:
                self.check_value((*at, "low"), t, low)
                self.check_value((*at, "high"), t, high)
        return ParamSpec(
            name=self.name,
            type=ptype,
            low=low,
            high=high,
            log=log,
            step=step,
            targets=targets,
            min_width=min_width,
        )

    def number(self, keys: tuple, value: Any, is_int_type: bool) -> Any:
        value = yaml_float(value)
        if is_int_type:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not is_int(value):
                raise self.error(keys, f"expected an integer, got {value!r}", "type")
            return value
        if not is_number(value):
            raise self.error(keys, f"expected a finite number, got {value!r}", "type")
        return float(value)

    def check_value(self, keys: tuple, target: str, value: Any) -> None:
        """Is ``value`` valid for ``target`` (a generator parameter's domain, a recipe field)?"""
        kind, info, _ = self.kinds[target]
        if kind == "family":
            names = GENERATORS.names()
            if not isinstance(value, str) or value not in names:
                raise self.error(
                    keys,
                    f"unknown generator {value!r}"
                    f"{did_you_mean(str(value), names)}; choose one of: "
                    f"{', '.join(names)} (sweep ls)",
                )
            return
        try:
            if kind == "gen":
                info.validate(value, "")
            else:
                for prof in PROFILES:
                    make_recipe(prof, {**self.doc.recipe_overrides(prof), info: value})
        except RecipeError as e:
            said = e.message if e.field == info else str(e)
            raise self.error(keys, f"target {target}: {said}") from None
        except SweepError as e:
            raise self.error(keys, f"target {target}: {detail(e, info.name)}") from None


# ----------------------------------------------------------------------------- the probe
def _probe_points(p: ParamSpec) -> list[Any]:
    """A few values of ``p`` that trials can reach: the ends, the middle, each choice."""
    if p.type == "categorical":
        return list(p.choices or ())
    assert p.low is not None and p.high is not None
    top = p.high - p.min_width if p.is_range else p.high
    mid = math.sqrt(p.low * top) if p.log else (p.low + top) / 2
    if p.step:
        mid = p.low + round((mid - p.low) / p.step) * p.step
    lows = sorted({p.low, round(mid) if p.is_int else mid, top})
    if not p.is_range:
        return lows
    return [[lo, p.range_max(lo, s)] for lo in lows for s in (0.0, 0.5, 1.0)]


def _show(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) if is_number(x) else repr(x) for x in v) + "]"
    return _fmt(v) if is_number(v) else repr(v)


def probe(spec, gen_cls: Any, prof: str) -> None:
    """Catch configurations the generator or the recipe rejects (cross-parameter rules such as
    VisualAtom's n2 != n1) at load time, not as failed trials: each searched parameter at its
    ends and middle with the others fixed, then all of them together (``spec``: the resolved
    study, :class:`sweep.space.Searched`)."""

    def attempt(values: dict) -> str | None:
        _, rec, _ = apply_values(spec, values, profile=prof)
        name, gen = generator_of(spec, values, prof)
        try:
            generator_class(name)(gen, image_size=make_recipe(prof, rec).img_size)
        except SweepError as e:
            return str(e)
        return None

    points = {p.name: _probe_points(p) for p in spec.search}
    for p in spec.search:
        for v in points[p.name]:
            err = attempt({p.name: v})
            if err:
                hint = " or set min_width" if p.is_range else ""
                raise spec.error(
                    ("search", p.name),
                    f"{p.name}={_show(v)} gives an invalid "
                    f"configuration ({prof} profile): {err}; narrow the "
                    f"range{hint}",
                )
    for i in range(3):
        values = {n: pts[min(i * (len(pts) - 1) // 2, len(pts) - 1)] for n, pts in points.items()}
        err = attempt(values)
        if err:
            shown = ", ".join(f"{k}={_show(v)}" for k, v in values.items())
            raise spec.error(
                ("search",),
                f"{shown} together give an invalid configuration ({prof} profile): {err}",
            )
