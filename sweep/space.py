"""The search-space schema of the sweep engine: a YAML file -> a validated :class:`StudyConfig`.

A study file (see ``search_spaces/*.yaml``) extends the file ``sweep trial`` reads
(:mod:`sweep.config`) with what the engine needs::

    study: visualatom-freq            # study name (default: the file name without .yaml);
                                      # letters, digits, '.', '_' and '-'
    question: Does a wider frequency band give better pre-training data?
    generator: {name: visualatom, params: {}}      # fixed generator parameters
    search:                           # the searched parameters (at least one)
      freq:                           # a name (Optuna's parameter name)
        type: int_range               # int | float | categorical | int_range | float_range
                                      # (default: the type of the first target)
        low: 0                        # bounds, inclusive (int types: integers)
        high: 20
        log: false                    # log-uniform (low > 0; no step)
        step: 1                       # a grid step (int default 1; floats need one for grid)
        min_width: 1                  # ranges only: max - min >= min_width (default 0)
        targets: [freq1, freq2]       # generator parameters it sets (default: [its name]);
                                      # "recipe.<field>" sets a recipe field
      warp: {type: categorical, choices: [0.25, 0.5, 1.0], targets: [amplitude]}
    proxy: {task: vit, profile: auto, recipe: {}, roots: {}}
    profiles:                         # per-profile overrides (cpu: laptops; gpu: CUDA)
      cpu: {recipe: {...}, generator: {...}, budget: {trials: 16}}
      gpu: {budget: {trials: 200, workers: 1}}
    seeds: [0]                        # replicates: every configuration runs once per seed
    data_seed: null                   # fix the synthetic dataset's seed across replicates
    objectives:                       # default: [{headline: maximize}]
      - headline: maximize            # short form, or {metric: headline, direction: maximize}
      - time_total_s: minimize
    sampler: tpe                      # or {name: tpe, options: {n_startup_trials: 5}}
    pruner: none                      # none | median | successive_halving | hyperband
    budget: {trials: 20, workers: 1, timeout_s: null, max_failed: 5}
    storage: runs/studies.db          # see below
    backend: local                    # or ray, or {name: ray, address: head:6379, resources:
                                      # {cpus: 1, gpus: 0.5}, scheduler: asha} (Backend)

Samplers: ``tpe`` (multivariate by default), ``random``, ``grid`` (every float parameter needs a
``step``), ``cmaes`` (single objective; needs the ``cmaes`` package), ``gp``, ``nsga2``, ``nsga3``,
``qmc``; ``options`` are the keyword arguments of the Optuna class that a YAML value can express
(``seed`` comes from the engine). Pruners need a single objective.

Storage (the file's ``storage:`` or ``--storage``): a URL ``sqlite:///path.db``,
``postgresql+psycopg://user:password@host/db`` or ``journal:///path.log`` (our scheme for an
Optuna journal file), or a bare path: ``*.db``/``*.sqlite``/``*.sqlite3`` is a SQLite file,
``*.log``/``*.jsonl``/``*.journal`` a journal file. Relative paths are resolved against the
current directory. The default is the SQLite file ``./runs/studies.db`` (one database holding
every study, by name; see :func:`default_storage`). SQLite suits a few workers on one machine
(WAL mode, 60 s busy timeout); a journal file suits many workers on one machine; PostgreSQL suits
several machines. Passwords are never printed (:func:`mask_url`).

Range pairs (``int_range``/``float_range``, for example VisualAtom's frequency band
``[n_min, n_max]``) are searched with a STATIC Optuna space that yields ``min <= max`` by
construction: ``<name>.min`` is drawn in ``[low, high - min_width]`` and ``<name>.span`` in
``[0, 1]``, and ``max = base + span * (high - base)`` with ``base = min + min_width`` (for
``log: true``: ``max = base * (high / base) ** span``), rounded to the integers or the step.
Every trial asks for the same distributions, so TPE, GP, CMA-ES, QMC and grid all model the
pair; no sample is rejected. (Drawing two values and sorting them is static too, but folds the
space in two, so model-based samplers see a symmetric, harder landscape.) ``min_width`` keeps out
degenerate bands a generator rejects (VisualAtom needs two distinct frequencies).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep.config import Config, generator_overrides, load_config, profile_block, recipe_overrides
from sweep.errors import SweepError, did_you_mean

PARAM_TYPES = ("int", "float", "categorical", "int_range", "float_range")
DIRECTIONS = ("maximize", "minimize")
PROFILES = ("cpu", "gpu")
#: sampler name -> optuna.samplers class name
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
    "nsga2": "NSGAIISampler",
    "nsga3": "NSGAIIISampler",
    "qmc": "QMCSampler",
}
#: pruner name -> optuna.pruners class name
PRUNERS = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)
#: defaults applied under the file's options: the (min, span) of a range are coupled, which
#: independent TPE cannot model
DEFAULT_SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {"tpe": {"multivariate": True}}
BUDGET_KEYS = ("trials", "workers", "timeout_s", "max_failed")
BACKENDS = ("local", "ray")
BACKEND_KEYS = ("name", "address", "resources", "scheduler")
RESOURCE_KEYS = ("cpus", "gpus")
#: Ray Tune scheduler name -> its options (sweep.ray_backend.TuneSchedulerPruner runs them)
SCHEDULERS: dict[str, tuple[str, ...]] = {
    "none": (),
    "asha": ("grace_period", "reduction_factor", "max_t"),
    "hyperband": ("grace_period", "reduction_factor", "max_t", "brackets"),
}
OBJECTIVE_KEYS = ("metric", "direction")
BLOCK_KEYS = ("name", "options")
DEFAULT_OBJECTIVES = (("headline", "maximize"),)
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_STUDY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "lustre", "gpfs", "ceph",
               "glusterfs", "fuse.glusterfs", "9p", "afs", "beegfs")  # fmt: skip


# --------------------------------------------------------------------------------- data model
@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter (see the module docstring for the range construction)."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None
    targets: tuple[str, ...] = ()
    min_width: float = 0

    @property
    def is_range(self) -> bool:
        return self.type.endswith("_range")

    @property
    def is_int(self) -> bool:
        return self.type.startswith("int")

    @property
    def encoded(self) -> bool:
        """Categorical choices that Optuna cannot store (lists, mappings) go in as JSON text."""
        return any(not _is_primitive(c) for c in self.choices or ())

    def optuna_choices(self) -> tuple:
        assert self.choices is not None
        if self.encoded:
            return tuple(json.dumps(c, sort_keys=True) for c in self.choices)
        return tuple(self.choices)

    def optuna_names(self) -> tuple[str, ...]:
        return (f"{self.name}.min", f"{self.name}.span") if self.is_range else (self.name,)

    def distributions(self) -> dict[str, Any]:
        """The Optuna distributions this parameter asks for (the same in every trial)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.type == "categorical":
            return {self.name: CategoricalDistribution(self.optuna_choices())}
        lo, hi = self.low, (self.high - self.min_width if self.is_range else self.high)
        if self.is_int:
            first = IntDistribution(int(lo), int(hi), log=self.log, step=int(self.step or 1))
        else:
            first = FloatDistribution(lo, hi, log=self.log, step=self.step)
        if not self.is_range:
            return {self.name: first}
        return {f"{self.name}.min": first, f"{self.name}.span": FloatDistribution(0.0, 1.0)}

    def value(self, raw: Mapping[str, Any]) -> Any:
        """The parameter's value from Optuna's raw values (``trial.params``): a number, a choice,
        or a ``[min, max]`` list."""
        if self.type == "categorical":
            v = raw[self.name]
            return json.loads(v) if self.encoded else v
        if not self.is_range:
            v = raw[self.name]
            return int(v) if self.is_int else float(v)
        lo = raw[f"{self.name}.min"]
        return [
            int(lo) if self.is_int else float(lo),
            self.range_max(lo, raw[f"{self.name}.span"]),
        ]

    def range_max(self, lo: float, span: float) -> int | float:
        assert self.high is not None
        hi, base = self.high, lo + self.min_width
        if base >= hi:
            v = hi
        elif self.log:
            v = base * (hi / base) ** span
        else:
            v = base + span * (hi - base)
        if self.step:
            v = base + round((v - base) / self.step) * self.step
        v = min(max(v, base), hi)
        if self.is_int:
            return round(v)
        return float(round(v, 12) if self.step else v)

    def grid(self) -> dict[str, list]:
        """Grid values for each Optuna name (the grid sampler); SweepError without a finite set.

        A range's ``.span`` gets as many points as the narrowest-based band has distinct maxima,
        so every pair is reached; pairs with a high ``min`` repeat (Optuna's grid sampler runs
        each grid point once, duplicates included)."""
        if self.type == "categorical":
            return {self.name: list(self.optuna_choices())}
        assert self.low is not None and self.high is not None
        hi = self.high - self.min_width if self.is_range else self.high
        if self.is_int:
            first = list(range(int(self.low), int(hi) + 1, int(self.step or 1)))
        else:
            if not self.step:
                raise SweepError("needs a step")
            n = round((hi - self.low) / self.step)
            first = [round(self.low + i * self.step, 12) for i in range(n + 1)]
        if not self.is_range:
            return {self.name: first}
        n_span = max(1, round((self.high - self.low - self.min_width) / (self.step or 1)))
        spans = [i / n_span for i in range(n_span + 1)]
        return {f"{self.name}.min": first, f"{self.name}.span": spans}

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["choices"] = None if self.choices is None else list(self.choices)
        d["targets"] = list(self.targets)
        return d


@dataclass(frozen=True)
class Budget:
    trials: int = 20
    workers: int = 1
    timeout_s: float | None = None
    max_failed: int = 5


@dataclass(frozen=True)
class Backend:
    """Where trials run (``backend:``): local worker processes, or Ray actors (``ray``) on a
    local Ray or the cluster at ``address``, each trial holding ``cpus`` and ``gpus`` (None:
    1 CPU; 1 GPU in the gpu profile, none in the cpu profile), stopped early by ``scheduler``."""

    name: str = "local"
    address: str | None = None
    cpus: float | None = None
    gpus: float | None = None
    scheduler: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"name": "none", "options": {}}
    )

    def resources(self, profile: str) -> dict[str, float]:
        """``{"cpus": ..., "gpus": ...}`` per trial in ``profile`` (cpu or gpu)."""
        gpus = self.gpus if self.gpus is not None else (1.0 if profile == "gpu" else 0.0)
        return {"cpus": self.cpus if self.cpus is not None else 1.0, "gpus": gpus}

    def as_dict(self, profile: str) -> dict[str, Any]:
        return {"name": self.name, "address": mask_url(self.address) if self.address else None,
                "resources": self.resources(profile) if self.name == "ray" else None,
                "scheduler": dict(self.scheduler)}  # fmt: skip


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file. Profile-dependent parts take the resolved profile (cpu or gpu)."""

    path: Path
    cfg: Config
    study: str
    question: str
    storage: str
    objectives: tuple[tuple[str, str], ...]
    sampler: dict
    pruner: dict
    budget: Budget
    seeds: tuple[int, ...]
    generator: str
    search: tuple[ParamSpec, ...]
    task: str
    profile: str
    data_seed: int | None = None
    profile_budgets: Mapping[str, Budget] = dataclasses.field(default_factory=dict)
    backend: Backend = dataclasses.field(default_factory=Backend)

    @property
    def directions(self) -> list[str]:
        return [d for _, d in self.objectives]

    @property
    def metric_names(self) -> list[str]:
        return [m for m, _ in self.objectives]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def generator_params(self, profile: str) -> dict:
        """Fixed generator parameters: the file's, then the profile block's."""
        return _jsonable(generator_overrides(self.cfg, _check_profile(profile)))

    def recipe(self, profile: str) -> dict:
        """Recipe overrides: the file's ``proxy.recipe``, then the profile block's."""
        return _jsonable(recipe_overrides(self.cfg, _check_profile(profile)))

    def roots(self) -> dict:
        return dict((self.cfg.data.get("proxy") or {}).get("roots") or {})

    def budget_for(self, profile: str) -> Budget:
        """The budget with the profile block's ``budget`` applied (``profiles.gpu.budget``)."""
        return self.profile_budgets.get(_check_profile(profile), self.budget)

    def resolved(self, profile: str) -> dict:
        """Everything the file says, with ``profile`` applied, as JSON-serialisable data."""
        from proxy_tasks.recipe import as_dict, make_recipe
        from sweep.generators import generator_class

        gen = generator_class(self.generator)
        params = self.generator_params(profile)
        recipe = self.recipe(profile)
        return _jsonable({
            "path": str(self.path),
            "study": self.study,
            "question": self.question,
            "generator": {"name": self.generator, "version": gen.version, "params": params,
                          "resolved": gen.resolve_params(params)},
            "search": [p.as_dict() for p in self.search],
            "proxy": {"task": self.task, "profile": profile, "file_profile": self.profile,
                      "recipe": recipe, "resolved": as_dict(make_recipe(profile, recipe)),
                      "roots": self.roots()},
            "objectives": [{"metric": m, "direction": d} for m, d in self.objectives],
            "sampler": self.sampler,
            "pruner": self.pruner,
            "budget": dataclasses.asdict(self.budget_for(profile)),
            "seeds": list(self.seeds),
            "data_seed": self.data_seed,
            "storage": mask_url(self.storage),
            "backend": self.backend.as_dict(profile),
            "space_hash": self.space_hash(profile),
        })  # fmt: skip

    def space_hash(self, profile: str) -> str:
        """sha256 (16 hex digits) of WHAT is searched: generator and version, its resolved fixed
        parameters (searched ones left out), the search parameters, proxy task and resolved
        recipe, objectives, seeds and data seed. Budget, workers, storage, sampler and pruner
        do not count: a study can be resumed with more trials or another sampler."""
        from proxy_tasks.recipe import as_dict, make_recipe
        from sweep.generators import generator_class

        gen = generator_class(self.generator)
        searched = {t for p in self.search for t in p.targets}
        params = gen.resolve_params(self.generator_params(profile))
        recipe = as_dict(make_recipe(profile, self.recipe(profile)))
        payload = _jsonable({
            "generator": self.generator,
            "version": gen.version,
            "params": {k: v for k, v in params.items() if k not in searched},
            "search": [p.as_dict() for p in self.search],
            "task": self.task,
            "recipe": {k: v for k, v in recipe.items() if f"recipe.{k}" not in searched},
            "objectives": [list(o) for o in self.objectives],
            "seeds": list(self.seeds),
            "data_seed": self.data_seed,
        })  # fmt: skip
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------- trials
def suggest(trial, spec: StudyConfig, *, profile: str | None = None) -> tuple[dict, dict, dict]:
    """Ask ``trial`` for every searched parameter.

    Returns ``(generator overrides, recipe overrides, values)``: the searched generator
    parameters (ranges as ``[min, max]`` lists), the searched recipe fields (without the
    ``recipe.`` prefix), and ``{param name: value}`` for user attributes. With ``profile``, the
    first two also hold the file's fixed values for that profile (searched values win).
    """
    for p in spec.search:
        for name, dist in p.distributions().items():
            _ask(trial, name, dist)
    return apply_values(spec, values_from_params(spec, trial.params), profile=profile)


def _ask(trial, name: str, dist) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def values_from_params(spec: StudyConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """``{param name: value}`` from Optuna's raw parameters (``FrozenTrial.params``)."""
    return {p.name: p.value(params) for p in spec.search}


def apply_values(
    spec: StudyConfig, values: Mapping[str, Any], *, profile: str | None = None
) -> tuple[dict, dict, dict]:
    """Route searched values to their targets: ``(generator, recipe, values)`` as in suggest
    (a parameter missing from ``values`` is left out: its targets keep their fixed values)."""
    gen = spec.generator_params(profile) if profile else {}
    rec = spec.recipe(profile) if profile else {}
    for p in spec.search:
        if p.name not in values:
            continue
        v = values[p.name]
        for t in p.targets:
            if t.startswith("recipe."):
                rec[t[len("recipe.") :]] = list(v) if isinstance(v, list | tuple) else v
            else:
                gen[t] = list(v) if isinstance(v, list | tuple) else v
    return gen, rec, dict(values)


def search_space(spec: StudyConfig) -> dict[str, Any]:
    """The static Optuna search space: ``{optuna name: distribution}``."""
    out: dict[str, Any] = {}
    for p in spec.search:
        out.update(p.distributions())
    return out


def grid_space(spec: StudyConfig) -> dict[str, list]:
    """The grid sampler's search space; SweepError (file, line) for a float without a step."""
    out: dict[str, list] = {}
    for p in spec.search:
        try:
            out.update(p.grid())
        except SweepError:
            hint = "log-scaled floats cannot have one" if p.log else "for example step: 0.1"
            raise spec.cfg.error(("search", p.name), f"the grid sampler needs a finite set of "
                                 f"values: give this float parameter a step ({hint}), or use "
                                 "another sampler") from None  # fmt: skip
    return out


def grid_size(spec: StudyConfig) -> int:
    """Number of points of the grid sampler's grid (duplicates of range pairs included)."""
    return math.prod(len(v) for v in grid_space(spec).values())


def make_sampler(spec: StudyConfig, seed: int):
    """The Optuna sampler of the file, seeded (give each worker process its own seed)."""
    import optuna

    name = spec.sampler["name"]
    options = {**DEFAULT_SAMPLER_OPTIONS.get(name, {}), **spec.sampler.get("options", {})}
    if name == "cmaes":
        _require_cmaes(spec.cfg, ("sampler",))
    if name == "nsga3" and options.get("reference_points") is not None:
        import numpy as np

        options["reference_points"] = np.asarray(options["reference_points"], dtype=float)
    cls = getattr(optuna.samplers, SAMPLERS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "grid":
            return cls(grid_space(spec), seed=seed)
        return cls(seed=seed, **options)


def make_pruner(spec: StudyConfig):
    import optuna

    name = spec.pruner["name"]
    if name != "none" and spec.multi_objective:
        raise spec.cfg.error(("pruner",), "pruning works for single-objective studies only; "
                             "set pruner: none")  # fmt: skip
    cls = getattr(optuna.pruners, PRUNERS[name])
    return cls(**spec.pruner.get("options", {}))


# --------------------------------------------------------------------------------- storage
def default_storage(study: str = "") -> str:
    """The default storage: the SQLite file ``runs/studies.db`` under the current directory,
    holding every study by name (``study`` is accepted for future per-study layouts)."""
    return f"sqlite:///{(Path.cwd() / 'runs' / 'studies.db').resolve()}"


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user:password@ and password= forms)."""
    s = str(url)
    scheme, sep, rest = s.partition("://")
    if sep:
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            rest = f"{user}:***{rest[at:]}"
        s = f"{scheme}://{rest}"
    return re.sub(r"(?i)\b((?:password|passwd|pwd)=)[^&;\s]*", r"\1***", s)


def normalize_storage(value: Any, label: str = "storage") -> str:
    """A storage URL or path -> a canonical URL (absolute paths); SweepError ``label: ...``."""
    kinds = "a URL (sqlite:///x.db, postgresql+psycopg://user@host/db, journal:///x.log) or a path"
    if not isinstance(value, str) or not value.strip():
        raise SweepError(f"{label}: expected {kinds}, got {value!r}")
    v = value.strip()
    shown = mask_url(v)
    scheme, sep, rest = v.partition("://")
    if not sep:
        path = _abs_path(v)
        if path.suffix in SQLITE_SUFFIXES:
            return _file_url("sqlite:///", path, shown, label)
        if path.suffix in JOURNAL_SUFFIXES:
            return _file_url("journal://", path, shown, label)
        raise SweepError(f"{label}: cannot tell the storage kind of '{shown}': name a SQLite file "
                         f"{'/'.join(SQLITE_SUFFIXES)}, a journal file "
                         f"{'/'.join(JOURNAL_SUFFIXES)}, or give a URL")  # fmt: skip
    s = scheme.lower()
    if s == "sqlite":
        if not rest.startswith("/") or rest[1:] in ("", ":memory:") or rest.startswith("/?"):
            why = "three slashes before the path"
            if rest.startswith("/") or not rest:
                why = "an in-memory database cannot be shared by worker processes"
            raise SweepError(f"{label}: '{shown}': write sqlite:///path/to/file.db ({why})")
        return _file_url("sqlite:///", _abs_path(rest[1:]), shown, label)
    if s == "journal":
        if not rest:
            raise SweepError(f"{label}: '{shown}': write journal:///path/to/file.log")
        return _file_url("journal://", _abs_path(rest), shown, label)
    if s == "postgresql" or s.startswith("postgresql+"):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
            _ = url.port  # a non-numeric port raises here
        except (ArgumentError, ValueError):
            raise SweepError(f"{label}: '{shown}' is not a valid PostgreSQL URL; write "
                             "postgresql+psycopg://user:password@host:5432/dbname"
                             ) from None  # fmt: skip
        if not url.host or not url.database:
            raise SweepError(f"{label}: '{shown}': name the host and the database, e.g. "
                             "postgresql+psycopg://user:password@host:5432/dbname")  # fmt: skip
        return v
    if s.split("+")[0] in ("mysql", "mariadb", "oracle", "mssql"):
        raise SweepError(f"{label}: '{shown}': {s.split('+')[0]} is not supported; use "
                         f"{kinds}")  # fmt: skip
    hint = did_you_mean(s, ("sqlite", "postgresql", "journal"))
    raise SweepError(f"{label}: '{shown}': unsupported storage scheme '{scheme}'{hint}; use "
                     f"{kinds}")  # fmt: skip


def _abs_path(text: str) -> Path:
    p = Path(text).expanduser()
    return p if p.is_absolute() else (Path.cwd() / p).resolve()


def _file_url(prefix: str, path: Path, shown: str, label: str) -> str:
    if path.is_dir():
        raise SweepError(f"{label}: '{shown}' is a directory; name a file inside it")
    return f"{prefix}{path}"


def make_storage(url: str, *, heartbeat: bool = True):
    """An Optuna storage for ``url`` (anything :func:`normalize_storage` takes).

    SQLite: WAL journal mode set once on the file (not on a network filesystem), a 60 s busy
    timeout. SQLite and PostgreSQL: with ``heartbeat``, a 10 s heartbeat, 30 s grace period and
    one retry of a trial whose worker died (``RetryHeartbeatStaleTrialCallback``). Journal files
    have no heartbeat (a resume must fail stale RUNNING trials itself).
    """
    import optuna

    url = normalize_storage(url)
    shown = mask_url(url)
    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len("journal://") :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as e:
            raise SweepError(f"storage {shown}: cannot open the journal file: {e}") from None
    kwargs: dict[str, Any] = {}
    if heartbeat:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
        kwargs = {"heartbeat_interval": 10, "grace_period": 30,
                  "heartbeat_stale_trial_callback": retry}  # fmt: skip
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _enable_wal(path)
        except (OSError, __import__("sqlite3").Error) as e:
            raise SweepError(f"storage {shown}: cannot open the SQLite file: {e}") from None
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():  # heartbeat arguments are "experimental" in Optuna 5.0
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
    except Exception as e:  # driver missing, unreachable server, bad credentials, ...
        first = (str(e).strip().splitlines() or [""])[0]
        msg = mask_url(first).replace(url, shown)
        if isinstance(e, ImportError):
            msg = "the database driver is missing (PostgreSQL: pip install 'psycopg[binary]')"
        raise SweepError(f"storage {shown}: cannot open: {type(e).__name__}: {msg}") from None


def _enable_wal(path: Path) -> None:
    import sqlite3

    if _on_network_fs(path):
        return  # WAL needs shared memory that network filesystems do not provide
    con = sqlite3.connect(str(path), timeout=60)
    try:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _on_network_fs(path: Path) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    target, best, fstype = str(path.resolve()), "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) > len(best):
            best, fstype = mnt, parts[2]
    return fstype in _NETWORK_FS


# --------------------------------------------------------------------------------- loading
def load_study_config(path: str | Path, *, storage: str | None = None) -> StudyConfig:
    """Load and validate a study file; every mistake raises a one-line SweepError
    ``file:line: key.path: message`` (``storage`` is a ``--storage`` override)."""
    from proxy_tasks import PROXY_TASKS
    from sweep.generators import generator_class
    from sweep.trial import validate_file_values

    cfg = load_config(path)
    d = cfg.data
    path = Path(path)

    study = d.get("study", path.stem)
    if not isinstance(study, str) or not _STUDY_RE.match(study):
        raise cfg.error(("study",), f"expected a name of letters, digits, '.', '_' or '-', got "
                        f"{study!r}")  # fmt: skip
    question = d.get("question", "")
    if question is None:
        question = ""
    if not isinstance(question, str):
        raise cfg.error(("question",), f"expected a sentence (a string), got {question!r}")

    for prof in PROFILES:
        validate_file_values(cfg, prof)
    generator = d["generator"]["name"]
    gen_cls = generator_class(generator)

    proxy = d.get("proxy") or {}
    task = proxy.get("task", "vit")
    if not isinstance(task, str) or task not in PROXY_TASKS:
        hint = did_you_mean(str(task), PROXY_TASKS.names())
        raise cfg.error(("proxy", "task"), f"unknown proxy task {task!r}{hint}; choose one of: "
                        f"{', '.join(PROXY_TASKS.names())}")  # fmt: skip
    profile = proxy.get("profile", "auto")
    if profile not in ("auto", *PROFILES):
        hint = did_you_mean(str(profile), ("auto", *PROFILES))
        raise cfg.error(("proxy", "profile"), f"unknown profile {profile!r}{hint}; use auto, "
                        "cpu or gpu")  # fmt: skip
    roots = proxy.get("roots") or {}
    if not isinstance(roots, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in roots.items()
    ):
        raise cfg.error(("proxy", "roots"), "expected a mapping of dataset name to directory")
    for prof in PROFILES:
        _check_combined(cfg, gen_cls, prof)

    data_seed = d.get("data_seed")
    if data_seed is not None and not (_is_int(data_seed) and data_seed >= 0):
        raise cfg.error(("data_seed",), f"expected a non-negative integer or null, got "
                        f"{data_seed!r}")  # fmt: skip

    search = _parse_search(cfg, gen_cls)
    objectives = _parse_objectives(cfg)
    sampler = _parse_block(cfg, "sampler", SAMPLERS, "tpe")
    pruner = _parse_block(cfg, "pruner", PRUNERS, "none")
    budget = _parse_budget(cfg, ("budget",), d.get("budget"), Budget())
    profile_budgets = {
        prof: _parse_budget(cfg, ("profiles", prof, "budget"), block["budget"], budget)
        for prof in PROFILES
        if "budget" in (block := profile_block(cfg, prof))
    }
    if storage is not None:
        url = normalize_storage(storage, label="--storage")
    elif "storage" in d:
        try:
            url = normalize_storage(d["storage"], label="_")
        except SweepError as e:
            raise cfg.error(("storage",), str(e)[len("_: ") :]) from None
    else:
        url = default_storage(study)

    backend = _parse_backend(cfg)
    spec = StudyConfig(
        path=path, cfg=cfg, study=study, question=question.strip(), storage=url,
        objectives=objectives, sampler=sampler, pruner=pruner, budget=budget,
        seeds=tuple(d.get("seeds", [0])), generator=generator, search=search, task=task,
        profile=profile, data_seed=data_seed, profile_budgets=profile_budgets,
        backend=backend,
    )  # fmt: skip
    _check_engine(spec)
    for prof in PROFILES:
        _probe(spec, gen_cls, prof)
    return spec


def _check_combined(cfg: Config, gen_cls, prof: str) -> None:
    """The fixed generator parameters and recipe of one profile, checked together."""
    from proxy_tasks.recipe import make_recipe

    params, recipe = generator_overrides(cfg, prof), recipe_overrides(cfg, prof)
    block = profile_block(cfg, prof)
    try:
        r = make_recipe(prof, recipe)
    except SweepError as e:
        key = _blamed(str(e), "recipe.")
        keys = (("profiles", prof, "recipe", key) if key in (block.get("recipe") or {})
                else ("proxy", "recipe", key) if key in recipe
                else ("proxy", "recipe"))  # fmt: skip
        raise cfg.error(keys, f"{e} ({prof} profile)") from None
    try:
        gen_cls(params, image_size=r.img_size)
    except SweepError as e:
        key = _blamed(str(e), "")
        keys = (("profiles", prof, "generator", key) if key in (block.get("generator") or {})
                else ("generator", "params", key) if key in params
                else ("generator", "params"))  # fmt: skip
        raise cfg.error(keys, f"{e} ({prof} profile)") from None


def _blamed(message: str, prefix: str) -> str:
    head = message.split(":", 1)[0]
    return head[len(prefix) :] if head.startswith(prefix) else head


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_primitive(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _number(v: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string: take such strings as numbers."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _parse_search(cfg: Config, gen_cls) -> tuple[ParamSpec, ...]:
    entries = cfg.data.get("search") or {}
    if not entries:
        raise cfg.error(("search",), "empty search space: add at least one parameter, e.g. "
                        "search: {orbits: {type: int_range, low: 1, high: 200}}")  # fmt: skip
    specs, owner, names = [], {}, {}
    for name, entry in entries.items():
        spec = _parse_param(cfg, gen_cls, str(name), entry)
        for t in spec.targets:
            if t in owner:
                i = spec.targets.index(t)
                keys = ("search", name, "targets", i) if "targets" in entry else ("search", name)
                raise cfg.error(keys, f"'{t}' is already searched by search.{owner[t]}; "
                                "search each parameter once")  # fmt: skip
            owner[t] = name
        for n in spec.optuna_names():
            if n in names:
                raise cfg.error(("search", name), f"its Optuna name '{n}' clashes with "
                                f"search.{names[n]}; rename one")  # fmt: skip
            names[n] = name
        specs.append(spec)
    return tuple(specs)


def _target_kind(gen_cls, target: str) -> tuple[str, Any] | None:
    """(kind, info) of a target: ("gen", Param) or ("recipe", dataclass field); None if unknown."""
    from proxy_tasks.recipe import Recipe

    if target.startswith("recipe."):
        fields = {f.name: f for f in dataclasses.fields(Recipe)}
        f = fields.get(target[len("recipe.") :])
        return ("recipe", f) if f else None
    by_name = {p.name: p for p in gen_cls.schema}
    return ("gen", by_name[target]) if target in by_name else None


def _recipe_kind(f) -> str:
    default = f.default
    if isinstance(default, bool) or isinstance(default, str):
        return "categorical"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, tuple) and len(default) == 2 and all(_is_number(v) for v in default):
        return "float_range"
    return "categorical"


#: searched type -> target types it can set (categorical sets anything its choices fit)
_COMPATIBLE = {
    "int": ("int", "float"),
    "float": ("float",),
    "int_range": ("int_range", "float_range"),
    "float_range": ("float_range",),
}


def _parse_param(cfg: Config, gen_cls, name: str, entry: Mapping) -> ParamSpec:
    from proxy_tasks.recipe import Recipe

    at = ("search", name)
    if not _NAME_RE.match(name) or name.endswith((".min", ".span")):
        raise cfg.error(at, "a parameter name starts with a letter or '_' and holds letters, "
                        "digits, '_', '.' or '-' (not ending in .min or .span)")  # fmt: skip
    # targets
    raw_targets = entry.get("targets", [name])
    if isinstance(raw_targets, str):
        raw_targets = [raw_targets]
    if not isinstance(raw_targets, list) or not raw_targets:
        raise cfg.error((*at, "targets"), "expected a non-empty list of generator parameters "
                        "(or recipe.<field>)")  # fmt: skip
    targets, kinds = [], []
    valid = [*gen_cls.param_names(), *(f"recipe.{f.name}" for f in dataclasses.fields(Recipe))]
    for i, t in enumerate(raw_targets):
        keys = (*at, "targets", i) if "targets" in entry else at
        if not isinstance(t, str) or not t:
            raise cfg.error(keys, f"expected a parameter name, got {t!r}")
        if t.startswith("generator."):
            t = t[len("generator.") :]
        kind = _target_kind(gen_cls, t)
        if kind is None:
            what = "recipe field" if t.startswith("recipe.") else \
                f"parameter of generator '{gen_cls.name}'"  # fmt: skip
            hint = did_you_mean(t, valid)
            raise cfg.error(keys, f"'{t}' is not a {what}{hint}; see 'sweep ls {gen_cls.name}'"
                            + ("" if "targets" in entry else "; or set targets:"))  # fmt: skip
        if t in targets:
            raise cfg.error(keys, f"'{t}' is listed twice")
        targets.append(t)
        kinds.append(kind)
    # type
    ptype = entry.get("type")
    if ptype is None:
        if "choices" in entry:
            ptype = "categorical"
        else:
            kind, info = kinds[0]
            ptype = info.type if kind == "gen" else _recipe_kind(info)
    elif ptype not in PARAM_TYPES:
        hint = did_you_mean(str(ptype), PARAM_TYPES)
        raise cfg.error((*at, "type"), f"unknown type {ptype!r}{hint}; choose one of: "
                        f"{', '.join(PARAM_TYPES)}")  # fmt: skip
    for (kind, info), t, i in zip(kinds, targets, range(len(targets)), strict=True):
        keys = (*at, "targets", i) if "targets" in entry else at
        ttype = info.type if kind == "gen" else _recipe_kind(info)
        if ptype != "categorical" and ttype not in _COMPATIBLE[ptype]:
            hint = "; use type: categorical" if ttype == "categorical" else ""
            raise cfg.error(keys, f"a {ptype} parameter cannot set '{t}', which is "
                            f"{ttype}{hint}")  # fmt: skip
    if ptype == "categorical":
        return _parse_categorical(cfg, gen_cls, name, entry, tuple(targets), kinds)
    return _parse_numeric(cfg, gen_cls, name, entry, ptype, tuple(targets), kinds)


def _parse_categorical(cfg, gen_cls, name, entry, targets, kinds) -> ParamSpec:
    at = ("search", name)
    for key in ("low", "high", "log", "step", "min_width"):
        if key in entry:
            raise cfg.error((*at, key), f"'{key}' does not apply to a categorical parameter; "
                            "list the values under choices")  # fmt: skip
    choices = entry.get("choices")
    if not isinstance(choices, list) or not choices:
        raise cfg.error((*at, "choices") if "choices" in entry else at,
                        "a categorical parameter needs a non-empty list of choices")  # fmt: skip
    seen: dict[str, int] = {}
    for i, c in enumerate(choices):
        if isinstance(c, Mapping):
            raise cfg.error((*at, "choices", i), "a choice is a number, a string, true/false, "
                            "null or a list (a [min, max] pair)")  # fmt: skip
        key = json.dumps(c, sort_keys=True)
        if key in seen:
            raise cfg.error((*at, "choices", i), f"choice {c!r} is listed twice")
        seen[key] = i
        for t, kind in zip(targets, kinds, strict=True):
            _check_target_value(cfg, (*at, "choices", i), t, kind, c)
    return ParamSpec(name=name, type="categorical", choices=_freeze(_jsonable(choices)),
                     targets=targets)  # fmt: skip


def _parse_numeric(cfg, gen_cls, name, entry, ptype, targets, kinds) -> ParamSpec:
    at = ("search", name)
    is_int = ptype.startswith("int")
    is_range = ptype.endswith("_range")
    if "choices" in entry:
        raise cfg.error((*at, "choices"), f"choices apply to type: categorical, not {ptype}")
    vals: dict[str, Any] = {}
    for key in ("low", "high"):
        if key not in entry:
            raise cfg.error(at, f"missing key '{key}': a {ptype} parameter needs low and high")
        vals[key] = _number_value(cfg, (*at, key), entry[key], is_int)
    low, high = vals["low"], vals["high"]
    if low > high:
        raise cfg.error((*at, "low"), f"low {_fmt(low)} > high {_fmt(high)}; write low <= high")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise cfg.error((*at, "log"), f"expected true or false, got {log!r}")
    if log and low <= 0:
        raise cfg.error((*at, "low"), f"log: true needs low > 0, got {_fmt(low)}")
    step = entry.get("step")
    if step is not None:
        step = _number_value(cfg, (*at, "step"), step, is_int)
        if step <= 0:
            raise cfg.error((*at, "step"), f"must be positive, got {_fmt(step)}")
        if log and (not is_int or step != 1):
            raise cfg.error((*at, "step"), "a log-scaled parameter cannot have a step")
        n = (high - low) / step
        if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
            raise cfg.error((*at, "step"), f"high - low = {_fmt(high - low)} is not a multiple "
                            f"of step {_fmt(step)}")  # fmt: skip
        if is_int and step == 1:
            step = None
    min_width: float = 0
    if "min_width" in entry:
        if not is_range:
            raise cfg.error((*at, "min_width"), f"min_width applies to ranges, not {ptype}")
        min_width = _number_value(cfg, (*at, "min_width"), entry["min_width"], is_int)
        if not 0 <= min_width <= high - low:
            raise cfg.error((*at, "min_width"), f"must be in [0, high - low] = "
                            f"[0, {_fmt(high - low)}], got {_fmt(min_width)}")  # fmt: skip
        if step is not None:
            n = min_width / step
            if abs(n - round(n)) > 1e-9 * max(1.0, n):
                raise cfg.error((*at, "min_width"), f"must be a multiple of step {_fmt(step)}")
    for t, kind in zip(targets, kinds, strict=True):
        if is_range:
            _check_target_value(cfg, (*at, "low"), t, kind, [low, low])
            _check_target_value(cfg, (*at, "high"), t, kind, [high, high])
            _check_target_value(cfg, at, t, kind, [low, high])
        else:
            _check_target_value(cfg, (*at, "low"), t, kind, low)
            _check_target_value(cfg, (*at, "high"), t, kind, high)
    return ParamSpec(name=name, type=ptype, low=low, high=high, log=log, step=step,
                     targets=targets, min_width=min_width)  # fmt: skip


def _number_value(cfg, keys, value, is_int):
    value = _number(value)
    if is_int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            raise cfg.error(keys, f"expected an integer, got {value!r}")
        return value
    if not _is_number(value):
        raise cfg.error(keys, f"expected a finite number, got {value!r}")
    return float(value)


def _check_target_value(cfg: Config, keys: tuple, target: str, kind, value) -> None:
    """Is ``value`` valid for ``target`` (a generator parameter's domain, a recipe field)?"""
    from proxy_tasks.recipe import make_recipe

    k, info = kind
    try:
        if k == "gen":
            info.validate(value, "")
        else:
            for prof in PROFILES:
                make_recipe(prof, {**recipe_overrides(cfg, prof), info.name: value})
    except SweepError as e:
        raise cfg.error(keys, f"target {target}: {_strip_label(str(e), target)}") from None


def _strip_label(msg: str, target: str) -> str:
    for prefix in (f"{target}: ", f"{target.removeprefix('recipe.')}: "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _parse_objectives(cfg: Config) -> tuple[tuple[str, str], ...]:
    raw = cfg.data.get("objectives")
    if raw is None and "objectives" not in cfg.data:
        return DEFAULT_OBJECTIVES
    at = ("objectives",)
    if isinstance(raw, Mapping):  # {headline: maximize, time_total_s: minimize}
        items = [((*at, m), {m: d}) for m, d in raw.items()]
    elif isinstance(raw, list):
        items = [((*at, i), item) for i, item in enumerate(raw)]
    else:
        raise cfg.error(at, "expected a list like [{headline: maximize}, {time_total_s: "
                        "minimize}]")  # fmt: skip
    if not items:
        raise cfg.error(at, "empty: name at least one metric, e.g. - headline: maximize")
    out: list[tuple[str, str]] = []
    for keys, item in items:
        if not isinstance(item, Mapping) or not item:
            raise cfg.error(keys, f"expected '- METRIC: maximize|minimize' or '- {{metric: "
                            f"METRIC, direction: maximize}}', got {item!r}")  # fmt: skip
        if "metric" in item or "direction" in item:
            for k in item:
                if k not in OBJECTIVE_KEYS:
                    hint = did_you_mean(str(k), OBJECTIVE_KEYS)
                    raise cfg.error((*keys, k), f"unknown key{hint}; valid: "
                                    f"{', '.join(OBJECTIVE_KEYS)}")  # fmt: skip
            for k in OBJECTIVE_KEYS:
                if k not in item:
                    raise cfg.error(keys, f"missing key '{k}'")
            metric, direction = item["metric"], item["direction"]
            mkeys, dkeys = (*keys, "metric"), (*keys, "direction")
        elif len(item) == 1:
            metric, direction = next(iter(item.items()))
            mkeys = dkeys = (*keys, metric) if keys[-1] != metric else keys
        else:
            raise cfg.error(keys, "one metric per list item: '- METRIC: maximize|minimize'")
        if not isinstance(metric, str) or not metric.strip():
            raise cfg.error(mkeys, f"a metric name is a non-empty string, got {metric!r}")
        if direction not in DIRECTIONS:
            hint = did_you_mean(str(direction), DIRECTIONS)
            raise cfg.error(dkeys, f"direction {direction!r}{hint}: use maximize or minimize")
        if metric in (m for m, _ in out):
            raise cfg.error(mkeys, f"metric '{metric}' is listed twice")
        out.append((metric, direction))
    return tuple(out)


def _name_and_options(cfg: Config, at: tuple, raw: Any, names) -> tuple[str, Mapping, tuple]:
    """``NAME`` or ``{name: NAME, options: {...}}`` at ``at``: the name, its options and the key
    path of the name (for errors about it)."""
    if isinstance(raw, str):
        return raw, {}, at
    if not isinstance(raw, Mapping):
        raise cfg.error(at, f"expected a name or {{name: ..., options: {{...}}}}, got {raw!r}")
    for k in raw:
        if k not in BLOCK_KEYS:
            raise cfg.error((*at, k), f"unknown key{did_you_mean(str(k), BLOCK_KEYS)}; "
                            f"valid: {', '.join(BLOCK_KEYS)}")  # fmt: skip
    if "name" not in raw:
        raise cfg.error(at, f"missing key 'name' (one of: {', '.join(names)})")
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise cfg.error((*at, "options"), "expected a mapping of options")
    return raw["name"], options, (*at, "name")


def _parse_block(cfg: Config, key: str, names: Mapping[str, str], default: str) -> dict:
    """``sampler: tpe`` or ``sampler: {name: tpe, options: {...}}`` (same for pruner)."""
    at: tuple = (key,)
    name, options, name_keys = _name_and_options(cfg, at, cfg.data.get(key, default), names)
    if name not in names:
        hint = did_you_mean(str(name), names)
        raise cfg.error(name_keys, f"unknown {key} {name!r}{hint}; choose one of: "
                        f"{', '.join(names)}")  # fmt: skip
    _check_options(cfg, key, name, names[name], dict(options))
    return {"name": name, "options": _jsonable(dict(options))}


_NOT_SETTABLE = ("Callable", "Sampler", "Mutation", "Crossover", "FrozenTrial", "Strategy")


def _check_options(cfg: Config, key: str, name: str, cls_name: str, options: dict) -> None:
    import optuna

    module = optuna.samplers if key == "sampler" else optuna.pruners
    params = inspect.signature(getattr(module, cls_name).__init__).parameters
    settable = {}
    for pname, p in params.items():
        ann = str(p.annotation)
        if pname in ("self", "args", "kwargs", "seed", "search_space"):
            continue
        if not any(w in ann for w in _NOT_SETTABLE):
            settable[pname] = ann
    for opt, value in options.items():
        keys = (key, "options", opt)
        if opt == "seed":
            raise cfg.error(keys, "the sampler seed is set by the sweep engine (one per worker)")
        if opt not in settable:
            valid = ", ".join(settable) or "none"
            raise cfg.error(keys, f"not an option of {key} '{name}'"
                            f"{did_you_mean(str(opt), settable)}; valid: {valid}")  # fmt: skip
        if not _fits(value, settable[opt]):
            raise cfg.error(keys, f"expected {settable[opt]}, got {value!r}")


def _fits(value: Any, ann: str) -> bool:
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


def _parse_budget(cfg: Config, at: tuple, raw: Any, base: Budget) -> Budget:
    if raw is None:
        return base
    if not isinstance(raw, Mapping):
        raise cfg.error(at, f"expected a mapping like {{trials: 20, workers: 1}}, got {raw!r}")
    values = dataclasses.asdict(base)
    for k, v in raw.items():
        keys = (*at, k)
        if k not in BUDGET_KEYS:
            raise cfg.error(keys, f"unknown key{did_you_mean(str(k), BUDGET_KEYS)}; valid: "
                            f"{', '.join(BUDGET_KEYS)}")  # fmt: skip
        if k == "timeout_s":
            v = _number(v)
            if v is not None and not (_is_number(v) and v > 0):
                raise cfg.error(keys, f"expected a positive number of seconds or null, got {v!r}")
            values[k] = None if v is None else float(v)
        else:
            if not _is_int(v) or v < 1:
                what = {"trials": "trials to run", "workers": "worker processes",
                        "max_failed": "failed trials before the study stops"}[k]  # fmt: skip
                raise cfg.error(keys, f"expected a positive integer ({what}), got {v!r}")
            values[k] = v
    return Budget(**values)


def _parse_backend(cfg: Config) -> Backend:
    """``backend: local``, ``backend: ray`` or ``backend: {name: ray, address: ..., resources:
    {cpus: 1, gpus: 0.5}, scheduler: asha}`` (see :class:`Backend`)."""
    if "backend" not in cfg.data:
        return Backend()
    raw, at = cfg.data["backend"], ("backend",)
    if isinstance(raw, str):
        raw, name_keys = {"name": raw}, at
    elif isinstance(raw, Mapping):
        for k in raw:
            if k not in BACKEND_KEYS:
                raise cfg.error((*at, k), f"unknown key{did_you_mean(str(k), BACKEND_KEYS)}; "
                                f"valid: {', '.join(BACKEND_KEYS)}")  # fmt: skip
        if "name" not in raw:
            raise cfg.error(at, "missing key 'name' (local or ray)")
        name_keys = (*at, "name")
    else:
        raise cfg.error(at, f"expected local, ray or {{name: ray, address: ..., resources: "
                        f"{{cpus: 1, gpus: 0}}, scheduler: asha}}, got {raw!r}")  # fmt: skip
    name = raw["name"]
    if name not in BACKENDS:
        raise cfg.error(name_keys, f"unknown backend {name!r}{did_you_mean(str(name), BACKENDS)};"
                        f" choose one of: {', '.join(BACKENDS)}")  # fmt: skip
    if name == "local":
        for k in ("address", "resources", "scheduler"):
            if raw.get(k) is not None:
                raise cfg.error((*at, k), f"'{k}' applies to backend ray; write name: ray, or "
                                "remove it")  # fmt: skip
        return Backend()
    address = raw.get("address")
    if address is not None and not (isinstance(address, str) and address.strip()):
        raise cfg.error((*at, "address"), f"expected a Ray address (auto, host:6379, "
                        f"ray://host:10001) or null for a local Ray, got {address!r}")  # fmt: skip
    res = raw.get("resources") or {}
    if not isinstance(res, Mapping):
        raise cfg.error((*at, "resources"), "expected a mapping like {cpus: 1, gpus: 0.5}")
    for k, v in res.items():
        keys = (*at, "resources", k)
        if k not in RESOURCE_KEYS:
            raise cfg.error(keys, f"unknown resource{did_you_mean(str(k), RESOURCE_KEYS)}; "
                            f"valid: {', '.join(RESOURCE_KEYS)} (per trial)")  # fmt: skip
        v = _number(v)
        if not _is_number(v) or v < 0 or (k == "cpus" and v == 0):
            what = "a positive number" if k == "cpus" else "a number >= 0"
            raise cfg.error(keys, f"expected {what} (per trial), got {v!r}")
        if v > 1 and not float(v).is_integer():
            raise cfg.error(keys, f"Ray takes a fraction below 1 or a whole number, got {v!r}")
    scheduler = _parse_scheduler(cfg, (*at, "scheduler"), raw.get("scheduler", "none"))
    return Backend(name="ray", address=address.strip() if address else None,
                   cpus=_opt_float(res.get("cpus")), gpus=_opt_float(res.get("gpus")),
                   scheduler=scheduler)  # fmt: skip


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(_number(v))


def _parse_scheduler(cfg: Config, at: tuple, raw: Any) -> dict:
    name, options, name_keys = _name_and_options(cfg, at, "none" if raw is None else raw,
                                                 SCHEDULERS)  # fmt: skip
    if name == "pbt":
        raise cfg.error(name_keys, "pbt does not fit a proxy trial: it mutates hyperparameters "
                        "of running trials from checkpoints, but a trial's generator parameters "
                        "fix its dataset when it starts, and the Optuna sampler owns the "
                        "parameters; use asha or hyperband")  # fmt: skip
    if name not in SCHEDULERS:
        raise cfg.error(name_keys, f"unknown scheduler {name!r}"
                        f"{did_you_mean(str(name), SCHEDULERS)}; choose one of: "
                        f"{', '.join(SCHEDULERS)}")  # fmt: skip
    out: dict[str, Any] = {}
    for k, v in options.items():
        keys = (*at, "options", k)
        if k not in SCHEDULERS[name]:
            valid = ", ".join(SCHEDULERS[name]) or "none"
            hint = did_you_mean(str(k), SCHEDULERS[name])
            raise cfg.error(keys, f"not an option of scheduler '{name}'{hint}; valid: {valid}")
        v = _number(v)
        if k == "reduction_factor":
            if not _is_number(v) or v <= 1:
                raise cfg.error(keys, f"expected a number > 1, got {v!r}")
            out[k] = float(v)
        elif k == "max_t" and v is None:
            out[k] = None
        else:
            if not _is_int(v) or v < 1:
                unit = "brackets" if k == "brackets" else "pre-training epochs"
                raise cfg.error(keys, f"expected a positive integer ({unit}), got {v!r}")
            out[k] = v
    if out.get("max_t") is not None and out.get("grace_period", 1) > out["max_t"]:
        raise cfg.error((*at, "options", "grace_period"), f"grace_period "
                        f"{out['grace_period']} > max_t {out['max_t']}")  # fmt: skip
    return {"name": name, "options": out}


def with_backend(spec: StudyConfig, name: str | None, address: str | None) -> StudyConfig:
    """``spec`` with ``--backend``/``--address`` applied (``--address`` implies ray)."""
    if name is None and address is None:
        return spec
    name = name or ("ray" if address else spec.backend.name)
    if name not in BACKENDS:
        raise SweepError(f"--backend {name}: choose one of: {', '.join(BACKENDS)}")
    if name == "local":
        if address:
            raise SweepError("--address applies to the ray backend: add --backend ray")
        return dataclasses.replace(spec, backend=Backend())
    if address is not None and not address.strip():
        raise SweepError("--address: expected a Ray address (auto, host:6379, ray://host:10001)")
    base = spec.backend if spec.backend.name == "ray" else Backend(name="ray")
    backend = dataclasses.replace(base, name="ray", address=address.strip() if address else
                                  base.address)  # fmt: skip
    return dataclasses.replace(spec, backend=backend)


def _require_cmaes(cfg: Config, keys: tuple) -> None:
    import importlib.util

    if importlib.util.find_spec("cmaes") is None:
        raise cfg.error(keys, "the cmaes sampler needs the 'cmaes' package (pip install cmaes); "
                        "or use tpe or gp")  # fmt: skip


def _check_engine(spec: StudyConfig) -> None:
    """Checks across keys: sampler vs objectives, pruner vs objectives, options by construction."""
    cfg, name = spec.cfg, spec.sampler["name"]
    name_keys = ("sampler", "name") if isinstance(cfg.data.get("sampler"), Mapping) else \
        ("sampler",)  # fmt: skip
    if name in SINGLE_OBJECTIVE_SAMPLERS and spec.multi_objective:
        raise cfg.error(name_keys, f"the {name} sampler handles one objective; the file has "
                        f"{len(spec.objectives)}: use nsga2, tpe or gp")  # fmt: skip
    if name == "cmaes":
        _require_cmaes(cfg, name_keys)
    if spec.pruner["name"] != "none" and spec.multi_objective:
        raise cfg.error(("pruner",), "pruning works for single-objective studies only; set "
                        "pruner: none")  # fmt: skip
    scheduler = spec.backend.scheduler["name"]
    if scheduler != "none":
        raw = cfg.data.get("backend")
        keys = ("backend", "scheduler") if isinstance(raw, Mapping) else ("backend",)
        if spec.multi_objective:
            n = len(spec.objectives)
            raise cfg.error(keys, f"the {scheduler} scheduler stops trials on one objective; "
                            f"the file has {n}: use scheduler: none")  # fmt: skip
        if spec.pruner["name"] != "none":
            raise cfg.error(keys, f"the {scheduler} scheduler does the early stopping on the ray "
                            f"backend: set pruner: none (or scheduler: none)")  # fmt: skip
    if name == "grid":
        grid_space(spec)
    for block, make in (("sampler", lambda: make_sampler(spec, 0)),
                        ("pruner", lambda: make_pruner(spec))):  # fmt: skip
        try:
            make()
        except SweepError:
            raise
        except Exception as e:  # an option value the Optuna class rejects
            raw = cfg.data.get(block)
            keys = (
                (block, "options") if isinstance(raw, Mapping) and "options" in raw else (block,)
            )
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise cfg.error(keys, f"{getattr(spec, block)['name']}: {msg}") from None


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


def _probe(spec: StudyConfig, gen_cls, prof: str) -> None:
    """Catch configurations the generator or the recipe rejects (cross-parameter rules such as
    VisualAtom's n2 != n1) at load time, not as failed trials: each searched parameter at its
    ends and middle with the others fixed, then all of them together."""
    from proxy_tasks.recipe import make_recipe

    def attempt(values: dict) -> str | None:
        gen, rec, _ = apply_values(spec, values, profile=prof)
        try:
            gen_cls(gen, image_size=make_recipe(prof, rec).img_size)
        except SweepError as e:
            return str(e)
        return None

    points = {p.name: _probe_points(p) for p in spec.search}
    for p in spec.search:
        for v in points[p.name]:
            err = attempt({p.name: v})
            if err:
                hint = " or set min_width" if p.is_range else ""
                raise spec.cfg.error(("search", p.name), f"{p.name}={_show(v)} gives an invalid "
                                     f"configuration ({prof} profile): {err}; narrow the "
                                     f"range{hint}")  # fmt: skip
    for i in range(3):
        values = {n: pts[min(i * (len(pts) - 1) // 2, len(pts) - 1)] for n, pts in points.items()}
        err = attempt(values)
        if err:
            shown = ", ".join(f"{k}={_show(v)}" for k, v in values.items())
            raise spec.cfg.error(("search",), f"{shown} together give an invalid configuration "
                                 f"({prof} profile): {err}")  # fmt: skip


def _show(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) if _is_number(x) else repr(x) for x in v) + "]"
    return _fmt(v) if _is_number(v) else repr(v)


def _check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise SweepError(f"profile '{profile}': resolve it to cpu or gpu first "
                         "(proxy_tasks.vit.resolve_profile)")  # fmt: skip
    return profile


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return value.item()
    return value
