"""The resolved study: a study file, read and checked, as :class:`StudyConfig`.

:func:`load_study_config` reads the file once into its typed model
(:func:`sweep.schema.document.load_study_file`), then runs the checks that span keys: the fixed
generator parameters and recipe of both profiles (:mod:`sweep.schema.fixed`), the searched
parameters against their targets (:mod:`sweep.schema.search`), sampler and pruner options
against Optuna (:mod:`sweep.samplers`), the storage URL (:mod:`sweep.storage`), the engine's
combinations (a sampler or scheduler against the number of objectives), and a probe of the
searched ranges. Every mistake is one :class:`~sweep.schema.errors.SchemaError`
``file:line: key.path: message``.

:meth:`StudyConfig.space_hash` is stored on every study: its output must not change for a given
file (existing studies compare it on resume).

The arms beyond the search are resolved here too: :meth:`StudyConfig.published` (the generator's
published values of the searched parameters, when the search can take them), the file's
``references`` (:class:`Reference`) and ``confirm`` (:class:`Confirm`), and :func:`to_raw`, a
searched value as the Optuna raw parameters that reproduce it (a range pair ``[lo, hi]`` as
``<name>.min``/``<name>.span``).

Imports: the standard library, :mod:`proxy_tasks.recipe` (lazily), :mod:`sweep.devices`,
:mod:`sweep.errors`, :mod:`sweep.record`, :mod:`sweep.values`, :mod:`sweep.storage`,
:mod:`sweep.samplers`, :mod:`sweep.space`, :mod:`sweep.generators` (lazily) and the
:mod:`sweep.schema` package; no command module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep import record
from sweep.devices import PROFILES
from sweep.errors import SweepError
from sweep.paired import DEFAULT_SMALLEST_EFFECT
from sweep.record import study_name_problem
from sweep.samplers import CMAES_MISSING, SINGLE_OBJECTIVE_SAMPLERS, check_options, has_cmaes
from sweep.samplers import make_pruner as _make_pruner
from sweep.samplers import make_sampler as _make_sampler
from sweep.schema.document import load_study_file
from sweep.schema.engine import BACKENDS, BackendSection, Budget, ConfirmSection
from sweep.schema.errors import Invalid, SchemaError, detail, unknown_key
from sweep.schema.fixed import check_combined, check_families, check_fixed
from sweep.schema.search import parse_search, probe
from sweep.schema.study import StudyFile
from sweep.schema.yamlfile import read_text
from sweep.space import (
    GENERATOR_TARGET,
    ParamSpec,
    family_param,
    grid_space,
)
from sweep.storage import default_storage, mask_url, normalize_storage
from sweep.values import is_number, jsonable

_CONFIRM_DEFAULTS = ConfirmSection()


@dataclass(frozen=True)
class Confirm:
    """The ``confirm:`` section resolved: ``top`` configurations of the search and the
    published one, on ``seeds`` fresh common seeds, up to ``max_seeds`` while undecided.
    ``explicit``: the file wrote the section (it runs whatever the budget; the default runs
    when the search budget is at least its first round)."""

    top: int = _CONFIRM_DEFAULTS.top  # one truth: the schema's defaults
    seeds: int = _CONFIRM_DEFAULTS.seeds
    max_seeds: int = _CONFIRM_DEFAULTS.max_seeds
    explicit: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Reference:
    """A named configuration of the searched parameters (``references:``): its values and
    the Optuna raw parameters that reproduce them."""

    name: str
    values: Mapping[str, Any]
    raw: Mapping[str, Any]


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

    @classmethod
    def of(cls, section: BackendSection) -> Backend:
        """The file's ``backend:`` section, resolved."""
        if section.name == "local":
            return cls()
        return cls(
            name="ray",
            address=section.address,
            cpus=section.resources.cpus,
            gpus=section.resources.gpus,
            scheduler={"name": section.scheduler.name, "options": dict(section.scheduler.options)},
        )

    def resources(self, profile: str) -> dict[str, float]:
        """``{"cpus": ..., "gpus": ...}`` per trial in ``profile`` (cpu or gpu)."""
        gpus = self.gpus if self.gpus is not None else (1.0 if profile == "gpu" else 0.0)
        return {"cpus": self.cpus if self.cpus is not None else 1.0, "gpus": gpus}

    def as_dict(self, profile: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": mask_url(self.address) if self.address else None,
            "resources": self.resources(profile) if self.name == "ray" else None,
            "scheduler": dict(self.scheduler),
        }


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file. Profile-dependent parts take the resolved profile (cpu or gpu)."""

    path: Path
    file: StudyFile  # the typed file, as written
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
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    confirm: Confirm | None = dataclasses.field(default_factory=Confirm)
    references: tuple[Reference, ...] = ()
    smallest_effect: float = DEFAULT_SMALLEST_EFFECT
    #: the text this config was parsed from, read once: what a new study stores as its snapshot
    text: str = ""

    @property
    def directions(self) -> list[str]:
        return [d for _, d in self.objectives]

    @property
    def metric_names(self) -> list[str]:
        return [m for m, _ in self.objectives]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def error(self, keys: tuple, message: str, kind: str = "value") -> SchemaError:
        """A :class:`SchemaError` about ``keys`` of the file (``file:line: key.path: ...``)."""
        return self.file.error(keys, message, kind)

    def generator_params(self, profile: str) -> dict:
        """Fixed generator parameters: the file's, then the profile block's (a family study:
        those of its reference family, ``generator.name``)."""
        if self.family is not None:
            return self.family_params(self.generator, profile)
        return jsonable(self.file.generator_overrides(_check_profile(profile)))

    @property
    def family(self) -> ParamSpec | None:
        """The searched parameter that picks the generator (a family study), if any."""
        return family_param(self)

    @property
    def families(self) -> tuple[str, ...]:
        """The generators a trial can run: the searched families, else the file's one."""
        fam = self.family
        return tuple(fam.choices or ()) if fam is not None else (self.generator,)

    def family_params(self, family: str, profile: str) -> dict:
        """Fixed parameters of ``family`` in a family study (``generator.families``; the
        same in both profiles); the file's own for a study of one generator."""
        _check_profile(profile)
        if self.family is None:
            return self.generator_params(profile)
        return jsonable(dict(self.file.generator.families.get(family, {})))

    def data_seed_for(self, seed: int, fixed: Mapping[str, Any] | None = None) -> int:
        """The data seed of a trial's training seed ``seed``: a fixed cell's own
        (``record.FIXED["data_seed"]``, the noise budget's crossed design), else the file's
        ``data_seed`` when set (one dataset for every replicate), else ``seed`` itself."""
        own = (fixed or {}).get(record.FIXED_DATA_SEED)
        if own is not None:
            return int(own)
        return int(self.data_seed) if self.data_seed is not None else int(seed)

    def recipe(self, profile: str) -> dict:
        """Recipe overrides: the file's ``proxy.recipe``, then the profile block's."""
        return jsonable(self.file.recipe_overrides(_check_profile(profile)))

    def roots(self) -> dict:
        return dict(self.file.proxy.roots)

    def budget_for(self, profile: str) -> Budget:
        """The budget with the profile block's ``budget`` applied (``profiles.gpu.budget``)."""
        return self.profile_budgets.get(_check_profile(profile), self.budget)

    def published(self, profile: str) -> tuple[Reference | None, str]:
        """The published configuration of the searched parameters and ``""``, or None and why
        not: each parameter takes its targets' published value (a generator parameter's
        default, a recipe field's preset value), when they agree and the search can take it.
        A family study's searched generator takes ``generator.name`` (its reference family)."""
        from proxy_tasks.recipe import as_dict, make_recipe
        from sweep.generators import generator_class

        defaults = {p.name: p.default for p in generator_class(self.generator).schema}
        defaults[GENERATOR_TARGET] = self.generator
        preset = as_dict(make_recipe(_check_profile(profile), {}))
        values: dict[str, Any] = {}
        raw: dict[str, Any] = {}
        for p in self.search:
            found = []
            for t in p.targets:
                field = t[len("recipe.") :] if t.startswith("recipe.") else None
                found.append(jsonable(preset.get(field) if field else defaults.get(t)))
            if any(v != found[0] for v in found[1:]):
                return None, f"the targets of {p.name} have different published values {found}"
            try:
                raw.update(to_raw(p, found[0]))
            except SweepError as e:
                return None, f"{p.name}: published {found[0]!r} is not in the search ({e})"
            values[p.name] = found[0]
        return Reference("published", values, raw), ""

    def grid_space(self) -> dict[str, list]:
        """The grid sampler's space (:func:`sweep.space.grid_space`)."""
        return grid_space(self)

    def resolved(self, profile: str) -> dict:
        """Everything the file says, with ``profile`` applied, as JSON-serialisable data."""
        from proxy_tasks.recipe import as_dict, make_recipe
        from sweep.generators import generator_class

        gen: Any = generator_class(self.generator)
        params = self.generator_params(profile)
        recipe = self.recipe(profile)
        out = jsonable(
            {
                "path": str(self.path),
                "study": self.study,
                "question": self.question,
                "smallest_effect": self.smallest_effect,
                "generator": {
                    "name": self.generator,
                    "version": gen.version,
                    "params": params,
                    "resolved": gen.resolve_params(params),
                },
                "search": [p.as_dict() for p in self.search],
                "proxy": {
                    "task": self.task,
                    "profile": profile,
                    "file_profile": self.profile,
                    "recipe": recipe,
                    "resolved": as_dict(make_recipe(profile, recipe)),
                    "roots": self.roots(),
                },
                "objectives": [{"metric": m, "direction": d} for m, d in self.objectives],
                "sampler": self.sampler,
                "pruner": self.pruner,
                "budget": self.budget_for(profile).model_dump(),
                "seeds": list(self.seeds),
                "data_seed": self.data_seed,
                "storage": mask_url(self.storage),
                "backend": self.backend.as_dict(profile),
                "options": dict(self.options),
                "confirm": self.confirm.as_dict() if self.confirm else False,
                "references": {r.name: dict(r.values) for r in self.references},
                "space_hash": self.space_hash(profile),
            }
        )
        if self.family is not None:  # a family study: every family a trial can run
            out["generator"]["families"] = self._families_resolved(profile)
        return out

    def _families_resolved(self, profile: str) -> dict[str, Any]:
        from sweep.generators import generator_class

        out = {}
        for name in self.families:
            g: Any = generator_class(name)
            params = self.family_params(name, profile)
            out[name] = {
                "version": g.version,
                "params": params,
                "resolved": g.resolve_params(params),
            }
        return jsonable(out)

    def space_hash(self, profile: str) -> str:
        """sha256 (16 hex digits) of WHAT is searched: generator and version, its resolved fixed
        parameters (searched ones left out), the search parameters, proxy task, its options
        (when any) and resolved recipe, objectives, seeds and data seed. Budget, workers,
        storage, sampler, pruner, references and confirmation do not count: a study can be
        resumed with more trials or another sampler."""
        from proxy_tasks.recipe import as_dict, make_recipe
        from sweep.generators import generator_class

        gen: Any = generator_class(self.generator)
        searched = {t for p in self.search for t in p.targets}
        params = gen.resolve_params(self.generator_params(profile))
        recipe = as_dict(make_recipe(profile, self.recipe(profile)))
        payload = jsonable(
            {
                "generator": self.generator,
                "version": gen.version,
                "params": {k: v for k, v in params.items() if k not in searched},
                "search": [p.as_dict() for p in self.search],
                "task": self.task,
                "recipe": {k: v for k, v in recipe.items() if f"recipe.{k}" not in searched},
                "objectives": [list(o) for o in self.objectives],
                "seeds": list(self.seeds),
                "data_seed": self.data_seed,
            }
        )
        if self.family is not None:  # only then: the hash of a one-generator file is unchanged
            fams = self._families_resolved(profile)
            payload["families"] = {
                n: {"version": f["version"], "params": f["resolved"]} for n, f in fams.items()
            }
        if self.options:  # only when given: the hash of a file without options is unchanged
            payload["options"] = jsonable(dict(self.options))
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise SweepError(
            f"profile '{profile}': resolve it to cpu or gpu first (sweep.devices.pick_profile)"
        )
    return profile


# ----------------------------------------------------------------------------- loading
def load_study_config(
    path: str | Path, *, storage: str | None = None, text: str | None = None
) -> StudyConfig:
    """Load and validate a study file; every mistake raises a one-line SchemaError
    ``file:line: key.path: message`` (``storage`` is a ``--storage`` override). The file is
    read once; ``text``, when given, is parsed instead (a study's stored snapshot:
    :func:`sweep.engine.study.snapshot_config`), ``path`` then only names it."""
    path = Path(path)
    if text is None:
        text = read_text(path)
    doc = load_study_file(path, text)
    study = doc.study if doc.study is not None else path.stem
    if (why := study_name_problem(study)) is not None:
        raise doc.error(("study",), why)
    gen_cls = {prof: check_fixed(doc, prof)[0] for prof in PROFILES}["cpu"]
    for prof in PROFILES:
        check_combined(doc, gen_cls, prof)
    search = parse_search(doc, gen_cls)
    fam = next((p for p in search if GENERATOR_TARGET in p.targets), None)
    check_families(doc, fam.name if fam else None, tuple(fam.choices or ()) if fam else ())
    if fam is not None and doc.calibration is not None:
        raise doc.error(
            ("calibration",),
            "sweep calibrate of a study that searches the "
            "generator is not supported yet: calibrate one family's file",
        )
    for key in ("sampler", "pruner"):
        block = getattr(doc, key)
        try:
            check_options(key, block.name, block.options)
        except Invalid as e:
            raise doc.error((key, *e.path), e.message, e.kind) from None
    _check_task_options(doc)
    budget = doc.budget or Budget()
    profile_budgets = {
        prof: doc.budget_for(prof) for prof in PROFILES if doc.profile(prof).budget is not None
    }
    if storage is not None:
        url = normalize_storage(storage, label="--storage")
    elif "storage" in doc.model_fields_set:
        try:
            url = normalize_storage(doc.storage, label="storage")
        except SweepError as e:
            raise doc.error(("storage",), detail(e, "storage")) from None
    else:
        url = default_storage(study)
    spec = StudyConfig(
        path=path,
        file=doc,
        study=study,
        question=(doc.question or "").strip(),
        storage=url,
        objectives=tuple((o.metric, o.direction) for o in doc.objectives),
        sampler=jsonable(doc.sampler.model_dump()),
        pruner=jsonable(doc.pruner.model_dump()),
        budget=budget,
        seeds=doc.seeds,
        generator=doc.generator.name,
        search=search,
        task=doc.proxy.task,
        profile=doc.proxy.profile,
        data_seed=doc.data_seed,
        profile_budgets=profile_budgets,
        backend=Backend.of(doc.backend),
        options=jsonable(dict(doc.proxy.options)),
        confirm=None
        if doc.confirm is None
        else Confirm(
            top=doc.confirm.top,
            seeds=doc.confirm.seeds,
            max_seeds=doc.confirm.max_seeds,
            explicit="confirm" in doc.model_fields_set,
        ),
        references=_references(doc, search),
        smallest_effect=doc.smallest_effect,
        text=text,
    )
    _check_engine(spec)
    _check_references_published(spec)
    for prof in PROFILES:
        probe(spec, gen_cls, prof)
    return spec


def _check_task_options(doc: StudyFile) -> None:
    """The proxy task's own check of ``proxy.options`` (:data:`proxy_tasks.spec.TASK_OPTIONS`),
    so that a bad option is one line at ``sweep validate`` instead of every trial failing."""
    from proxy_tasks.spec import TASK_OPTIONS

    try:
        TASK_OPTIONS.get(doc.proxy.task)(dict(doc.proxy.options))
    except SweepError as e:
        keys = tuple((getattr(e, "key", None) or "options").split("."))
        raise doc.error(("proxy", *keys), getattr(e, "message", str(e))) from None


def _references(doc: StudyFile, search: tuple[ParamSpec, ...]) -> tuple[Reference, ...]:
    """The file's ``references:``, each a value for every searched parameter it can take."""
    names = [p.name for p in search]
    out: list[Reference] = []
    for name, entry in doc.references.items():
        if name in RESERVED_REFERENCES:
            raise doc.error(
                ("references", name),
                f"'{name}' is a reserved arm name ({', '.join(RESERVED_REFERENCES)}): "
                "name the reference after what it is, e.g. narrow_band",
            )
        for k in entry:
            if k not in names:
                raise doc.error(("references", name, k), unknown_key(k, names), "unknown_key")
        missing = [n for n in names if n not in entry]
        if missing:
            raise doc.error(
                ("references", name),
                f"missing searched parameter(s) {', '.join(missing)}",
                "missing",
            )
        raw: dict[str, Any] = {}
        for p in search:
            try:
                raw.update(to_raw(p, entry[p.name]))
            except SweepError as e:
                raise doc.error(("references", name, p.name), str(e)) from None
        ref = Reference(name, jsonable({n: entry[n] for n in names}), raw)
        if twin := next((r for r in out if r.raw == ref.raw), None):
            raise doc.error(
                ("references", name),
                f"the same configuration as references.{twin.name}: remove one",
            )
        out.append(ref)
    return tuple(out)


#: arm names a reference cannot take (the published arm, scratch, the search, the confirmation)
RESERVED_REFERENCES = ("published", "scratch", "search", "confirm")


def _check_references_published(spec: StudyConfig) -> None:
    """A reference equal to the published configuration would run it twice: refused."""
    for prof in PROFILES:
        published, _ = spec.published(prof)
        for r in spec.references:
            if published is not None and r.raw == published.raw:
                raise spec.error(
                    ("references", r.name),
                    f"is the published configuration ({prof} profile), which every study "
                    "runs as its published arm: remove it",
                )


def to_raw(p: ParamSpec, value: Any) -> dict[str, Any]:
    """A searched value as Optuna raw parameters (``trial.params``) that ``p.value`` turns back
    into exactly ``value``; a range pair ``[lo, hi]`` as ``<name>.min`` = lo and ``<name>.span``
    (the inverse of :meth:`sweep.space.ParamSpec.range_max`). SweepError (a message without
    the key) when the parameter cannot take the value."""
    if p.type == "categorical":
        assert p.choices is not None
        text = json.dumps(jsonable(value), sort_keys=True)
        choices = [json.dumps(c, sort_keys=True) for c in p.choices]
        if text not in choices:
            raise SweepError(f"{value!r} is not one of the choices {list(p.choices)}")
        return {p.name: p.optuna_choices()[choices.index(text)]}
    assert p.low is not None and p.high is not None
    what = "a [min, max] pair" if p.is_range else "a number"
    bad = f"expected {what} in [{p.low:g}, {p.high:g}]"
    raw: dict[str, Any]
    if p.is_range:
        if not (
            isinstance(value, list | tuple) and len(value) == 2 and all(map(is_number, value))
        ):
            raise SweepError(f"{bad}, got {value!r}")
        lo, hi = value
        base = lo + p.min_width
        if not (p.low <= lo and base <= hi <= p.high):
            raise SweepError(f"{bad} with max - min >= {p.min_width:g}, got {value!r}")
        if base >= p.high:
            span = 0.0
        elif p.log:
            span = math.log(hi / base) / math.log(p.high / base)
        else:
            span = (hi - base) / (p.high - base)
        raw = {f"{p.name}.min": int(lo) if p.is_int else float(lo), f"{p.name}.span": span}
    else:
        if not is_number(value) or not p.low <= value <= p.high:
            raise SweepError(f"{bad}, got {value!r}")
        raw = {p.name: int(value) if p.is_int else float(value)}
    got = p.value(raw)
    want = list(value) if p.is_range else [value]
    got = list(got) if p.is_range else [got]
    same = all(
        math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12) for g, w in zip(got, want, strict=True)
    )
    if not same or (p.is_int and not all(float(w).is_integer() for w in want)):
        kind = "integers" if p.is_int else "numbers"
        step = f" on the grid of step {p.step:g}" if p.step else ""
        raise SweepError(f"{value!r} is not a value this parameter takes ({kind}{step})")
    return raw


def _check_engine(spec: StudyConfig) -> None:
    """Checks across keys: sampler vs objectives, pruner vs objectives, options by construction."""
    doc, name = spec.file, spec.sampler["name"]
    name_keys = doc.source.first_written(("sampler", "name"), ("sampler",))
    if name in SINGLE_OBJECTIVE_SAMPLERS and spec.multi_objective:
        raise spec.error(
            name_keys,
            f"the {name} sampler handles one objective; the file has "
            f"{len(spec.objectives)}: use nsga2, tpe or gp",
        )
    if name == "cmaes" and not has_cmaes():
        raise spec.error(name_keys, CMAES_MISSING)
    if spec.pruner["name"] != "none" and spec.multi_objective:
        raise spec.error(
            ("pruner",), "pruning works for single-objective studies only; set pruner: none"
        )
    scheduler = spec.backend.scheduler["name"]
    if scheduler != "none":
        keys = doc.source.first_written(("backend", "scheduler"), ("backend",))
        if spec.multi_objective:
            n = len(spec.objectives)
            raise spec.error(
                keys,
                f"the {scheduler} scheduler stops trials on one objective; "
                f"the file has {n}: use scheduler: none",
            )
        if spec.pruner["name"] != "none":
            raise spec.error(
                keys,
                f"the {scheduler} scheduler does the early stopping on the "
                f"ray backend: set pruner: none (or scheduler: none)",
            )
    if name == "grid":
        grid_space(spec)
    for block, make in (
        ("sampler", lambda: _make_sampler(spec, 0)),
        ("pruner", lambda: _make_pruner(spec)),
    ):
        if not getattr(spec, block).get("options"):
            continue  # the class's defaults: nothing the file wrote can fail (and no Optuna
            # import, about 50 ms of every 'sweep validate')
        try:
            make()
        except SweepError:
            raise
        except Exception as e:  # an option value the Optuna class rejects
            keys = doc.source.first_written((block, "options"), (block,))
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise spec.error(keys, f"{getattr(spec, block)['name']}: {msg}") from None


#: what a launch decides (how a study is searched, paid for and run): taken from the launching
#: file and its flags. Everything else, what the trials run, comes from the study's snapshot.
LAUNCH_FIELDS = ("storage", "sampler", "pruner", "budget", "profile_budgets", "backend")


def snapshot_config(
    attrs: Mapping[str, Any],
    study: str,
    storage: str | None,
    *,
    profile: str | None = None,
    launch: Mapping[str, Any] | None = None,
) -> StudyConfig:
    """The config study ``study`` runs, parsed from the text it stored when it was created
    (``sweep:file_text``; ``attrs`` are its user attributes), never from the live file: a
    file edited during a launch changes nothing its trials, arms or confirmation run.
    ``storage`` None keeps the file's own (what a trial runs does not depend on it).
    ``launch`` overrides :data:`LAUNCH_FIELDS` (the sampler, budget, ... of this launch);
    with ``profile``, the snapshot's search-space hash is checked against the stored one."""
    text = attrs.get(record.STUDY_FILE_TEXT)
    if text is None:
        raise SweepError(f"study '{study}' was not created by sweep launch: it stores no file")
    named = str(attrs.get(record.STUDY_FILE) or f"{study}.yaml")
    spec = load_study_config(named, storage=storage, text=text)
    if launch:
        if unknown := set(launch) - set(LAUNCH_FIELDS):
            raise ValueError(f"not launch fields: {sorted(unknown)}")
        spec = dataclasses.replace(spec, **launch)
    spec = dataclasses.replace(spec, study=study)
    stored = attrs.get(record.STUDY_HASH)
    if profile is not None and stored is not None and spec.space_hash(profile) != stored:
        raise SweepError(
            f"study '{study}': its stored file gives search-space hash "
            f"{spec.space_hash(profile)}, the study was created with {stored} (another "
            "version of sweep?); start a new study with --fork NEW_NAME"
        )
    return spec


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
    backend = dataclasses.replace(
        base, name="ray", address=address.strip() if address else base.address
    )
    return dataclasses.replace(spec, backend=backend)
