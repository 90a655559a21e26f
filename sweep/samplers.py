"""Samplers and pruners of a study: their names, the options a file may give, the Optuna objects.

Samplers: ``tpe`` (multivariate by default: the (min, span) of a range pair are coupled, which
independent TPE cannot model), ``random``, ``grid`` (every float parameter needs a ``step``),
``cmaes`` (single objective; needs the ``cmaes`` package), ``gp``, ``nsga2``, ``nsga3``, ``qmc``.
Pruners (single objective only): ``none``, ``median``, ``successive_halving``, ``hyperband``.
``options`` are the keyword arguments of the Optuna class that a YAML value can express, checked
against the class's signature (:func:`check_options`); ``seed`` comes from the engine (one per
worker).

``SAMPLERS`` and ``PRUNERS`` are :class:`sweep.registry.Registry` instances (name -> the Optuna
class, imported on lookup), listed in the order below.

Imports: the standard library, :mod:`sweep.registry`, :mod:`sweep.schema.errors`; Optuna and
numpy lazily.
:func:`make_sampler` and :func:`make_pruner` take the resolved study
(:class:`sweep.study_config.StudyConfig`) without importing it.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Mapping
from typing import Any

from sweep.registry import Registry
from sweep.schema.errors import Invalid

#: sampler name -> its optuna.samplers class
SAMPLERS: Registry[type] = Registry("sampler", ordered=True)
SAMPLERS.register("tpe", "optuna.samplers:TPESampler")
SAMPLERS.register("random", "optuna.samplers:RandomSampler")
SAMPLERS.register("grid", "optuna.samplers:GridSampler")
SAMPLERS.register("cmaes", "optuna.samplers:CmaEsSampler")
SAMPLERS.register("gp", "optuna.samplers:GPSampler")
SAMPLERS.register("nsga2", "optuna.samplers:NSGAIISampler")
SAMPLERS.register("nsga3", "optuna.samplers:NSGAIIISampler")
SAMPLERS.register("qmc", "optuna.samplers:QMCSampler")
#: pruner name -> its optuna.pruners class
PRUNERS: Registry[type] = Registry("pruner", ordered=True)
PRUNERS.register("none", "optuna.pruners:NopPruner")
PRUNERS.register("median", "optuna.pruners:MedianPruner")
PRUNERS.register("successive_halving", "optuna.pruners:SuccessiveHalvingPruner")
PRUNERS.register("hyperband", "optuna.pruners:HyperbandPruner")
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)
#: defaults applied under the file's options (see the module docstring)
DEFAULT_SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {"tpe": {"multivariate": True}}
#: annotations of constructor arguments a YAML value cannot give
_NOT_SETTABLE = ("Callable", "Sampler", "Mutation", "Crossover", "FrozenTrial", "Strategy")
CMAES_MISSING = "the cmaes sampler needs the 'cmaes' package (pip install cmaes); or use tpe or gp"


def settable_options(kind: str, name: str) -> dict[str, str]:
    """``{option: annotation}`` of the Optuna class of sampler or pruner ``name``."""
    table = SAMPLERS if kind == "sampler" else PRUNERS
    params = inspect.signature(table.get(name).__init__).parameters  # type: ignore[misc]
    out = {}
    for pname, p in params.items():
        ann = str(p.annotation)
        if pname in ("self", "args", "kwargs", "seed", "search_space"):
            continue
        if not any(w in ann for w in _NOT_SETTABLE):
            out[pname] = ann
    return out


def check_options(kind: str, name: str, options: Mapping[str, Any]) -> None:
    """Each option is an argument of the Optuna class that a YAML value fits; :class:`Invalid`
    at ``("options", option)`` otherwise."""
    from sweep.errors import did_you_mean

    if not options:
        return  # nothing to check: Optuna (about 50 ms to import) is not needed to validate
    settable = settable_options(kind, name)
    for opt, value in options.items():
        at = ("options", opt)
        if opt == "seed":
            raise Invalid("the sampler seed is set by the sweep engine (one per worker)", at)
        if opt not in settable:
            valid = ", ".join(settable) or "none"
            raise Invalid(
                f"not an option of {kind} '{name}'{did_you_mean(str(opt), settable)}"
                f"; valid: {valid}",
                at,
                "unknown_key",
            )
        if not fits(value, settable[opt]):
            raise Invalid(f"expected {settable[opt]}, got {value!r}", at, "type")


def fits(value: Any, ann: str) -> bool:
    """Whether a YAML value fits a constructor argument annotated ``ann`` (its text)."""
    ann = ann.replace("<class '", "").replace("'>", "")
    kinds = {a.strip() for a in re.split(r"[|\[\],]", ann) if a.strip()}
    if value is None:
        return "None" in kinds
    if isinstance(value, bool):
        return "bool" in kinds
    if isinstance(value, int):
        return bool(kinds & {"int", "float"})
    if isinstance(value, float):
        return "float" in kinds
    if isinstance(value, str):
        return "str" in kinds
    if isinstance(value, Mapping):
        return "dict" in kinds
    if isinstance(value, list):
        return "np.ndarray" in kinds or "list" in kinds
    return False


def has_cmaes() -> bool:
    import importlib.util

    return importlib.util.find_spec("cmaes") is not None


def make_sampler(spec, seed: int):
    """The Optuna sampler of the file, seeded (give each worker process its own seed)."""
    import optuna

    name = spec.sampler["name"]
    options = {**DEFAULT_SAMPLER_OPTIONS.get(name, {}), **spec.sampler.get("options", {})}
    if name == "cmaes" and not has_cmaes():
        raise spec.error(("sampler",), CMAES_MISSING)
    if name == "nsga3" and options.get("reference_points") is not None:
        import numpy as np

        options["reference_points"] = np.asarray(options["reference_points"], dtype=float)
    cls = SAMPLERS.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "grid":
            return cls(spec.grid_space(), seed=seed)
        return cls(seed=seed, **options)


def make_pruner(spec):
    """The Optuna pruner of the file (pruners need a single objective)."""
    name = spec.pruner["name"]
    if name != "none" and spec.multi_objective:
        raise spec.error(
            ("pruner",), "pruning works for single-objective studies only; set pruner: none"
        )
    cls = PRUNERS.get(name)
    return cls(**spec.pruner.get("options", {}))
