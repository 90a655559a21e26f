"""What a trial runs, in one place, and ``sweep trial``.

:func:`trial_specs` turns a study's config (its stored snapshot, :func:`sweep.study_config.
snapshot_config`, never the live file) and a trial's searched values into the
:class:`~proxy_tasks.spec.TrialSpec` each of its seeds runs: the generator (the searched family,
else the file's), its fixed then searched parameters, the recipe (the file's, the profile's, the
searched fields, a fixed cell's own), the data seed of every training seed and the task's
options. Every path calls it: the engine's objective (local and Ray workers), ``sweep trial``
(its ``--set`` keys routed by :func:`sweep.schema.recipe.split_overrides` on top) and
:func:`dataset_of`, the dataset a stored trial pre-trained on (``sweep generate --from``, the
report's samples), whose spec comes from the task's own definition
(:func:`proxy_tasks.spec.dataset_spec`).

Imports: the standard library, numpy, :mod:`sweep.record`, :mod:`sweep.devices`,
:mod:`sweep.schema`, :mod:`sweep.space`, :mod:`sweep.study_config`, :mod:`sweep.generators`,
:mod:`proxy_tasks` (lazily).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sweep import record
from sweep.errors import SweepError

if TYPE_CHECKING:
    from proxy_tasks.spec import TrialSpec
    from sweep.dataset import DatasetSpec
    from sweep.study_config import StudyConfig


def trial_specs(
    config: StudyConfig,
    profile: str,
    values: Mapping[str, Any],
    *,
    seeds: list[int],
    fixed: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    data_seed: int | None = None,
    device: str = "auto",
    cache_dir: str | None = "runs/cache",
    roots: Mapping[str, str] | None = None,
    download: bool = False,
) -> list[TrialSpec]:
    """The :class:`TrialSpec` of each of ``seeds`` for a trial of ``config`` in ``profile``
    with searched ``values`` (``{param name: value}``; a parameter left out keeps its fixed
    value). ``fixed`` is the trial's :data:`sweep.record.FIXED` (a calibration or
    confirmation cell: its recipe fields and data seed); ``overrides`` are ``sweep trial
    --set`` keys (generator parameters or recipe fields); ``data_seed`` overrides every
    seed's data seed (``sweep trial --data-seed``)."""
    from proxy_tasks.spec import TrialSpec
    from sweep.schema.recipe import split_overrides
    from sweep.space import apply_values, generator_of

    generator, params = generator_of(config, values, profile)
    _, recipe, _ = apply_values(config, values, profile=profile)
    if overrides:
        gen_set, rec_set = split_overrides(generator, overrides)
        params.update(gen_set)
        recipe.update(rec_set)
    recipe.update((fixed or {}).get(record.FIXED_RECIPE) or {})
    return [
        TrialSpec(
            generator=generator,
            params=params,
            task=config.task,
            profile=profile,
            recipe=recipe,
            data_seed=config.data_seed_for(s, fixed) if data_seed is None else int(data_seed),
            train_seed=int(s),
            device=device,
            cache_dir=cache_dir,
            roots={**config.roots(), **(roots or {})},
            download=download,
            options=dict(config.options),
        )
        for s in seeds
    ]


def dataset_of(
    trial_attrs: Mapping[str, Any], study_attrs: Mapping[str, Any]
) -> tuple[DatasetSpec | None, str | None]:
    """The :class:`DatasetSpec` a stored trial pre-trained on, and why not when it cannot be
    told: its ``dataset`` attribute (:data:`sweep.record.DATASET`), else rebuilt by
    :func:`trial_specs` from the study's stored snapshot and the trial's record (its searched
    values, seeds and fixed cell). Either way the spec's fingerprint must equal the one the
    trial recorded, so what is drawn is never another dataset."""
    from sweep.dataset import Dataset, spec_from_attr

    want = trial_attrs.get(record.DATASET_FINGERPRINT)
    stored = trial_attrs.get(record.DATASET)
    try:
        if isinstance(stored, Mapping):
            spec = spec_from_attr(stored)
            want = stored.get(record.FINGERPRINT) or want
        else:
            if not want:
                return None, (
                    "the trial stored no dataset (no dataset attribute and no fingerprint: "
                    "it did not get as far as rendering one)"
                )
            rebuilt, why = _rebuilt(trial_attrs, study_attrs)
            if rebuilt is None:
                return None, why
            spec = rebuilt
        got = Dataset(spec).fingerprint
    except (SweepError, KeyError, TypeError, ValueError) as e:
        return None, f"cannot rebuild the dataset: {e}"
    if want and got != want:
        return None, f"the rebuilt dataset's fingerprint {got} differs from the trial's {want}"
    return spec, None


def _rebuilt(
    trial_attrs: Mapping[str, Any], study_attrs: Mapping[str, Any]
) -> tuple[DatasetSpec | None, str | None]:
    """The dataset of a trial that stored only its fingerprint, from the study's snapshot."""
    from proxy_tasks.spec import dataset_spec
    from sweep.study_config import snapshot_config

    profile = study_attrs.get(record.STUDY_PROFILE)
    if record.STUDY_FILE_TEXT not in study_attrs or not profile:
        return None, "the trial has no dataset attribute and the study no stored file"
    config = snapshot_config(study_attrs, "study", None)
    values = {
        p.name: trial_attrs[record.param_attr(p.name)]
        for p in config.search
        if record.param_attr(p.name) in trial_attrs
    }
    fixed = trial_attrs.get(record.FIXED) or {}
    seeds = trial_attrs.get(record.SEEDS) or list(config.seeds)
    (spec,) = trial_specs(config, str(profile), values, seeds=[int(seeds[0])], fixed=fixed)
    return dataset_spec(spec), None


def run_from_file(
    path: str,
    *,
    sets: Mapping[str, Any] | None = None,
    profile: str | None = None,
    seeds: list[int] | None = None,
    data_seed: int | None = None,
    device: str = "auto",
    roots: Mapping[str, str] | None = None,
    download: bool = False,
    cache_dir: str | None = "runs/cache",
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the trial of the study file at ``path`` once per seed (:func:`trial_specs`: the
    searched parameters keep their fixed values, ``--set`` keys on top; in a family study
    ``--set family=NAME`` picks the family); the result (one seed) or the replicates with the
    mean and standard deviation of every metric."""
    from proxy_tasks import run_trial
    from proxy_tasks.recipe import make_recipe
    from sweep.devices import pick_profile
    from sweep.generators import get_generator
    from sweep.schema.fixed import check_fixed, trial_family
    from sweep.study_config import load_study_config

    config = load_study_config(path)
    doc = config.file
    choice = pick_profile(profile or doc.proxy.profile, device)
    choice.announce(quiet)
    prof = choice.profile
    check_fixed(doc, prof)
    name, _, rest = trial_family(doc, {}, sets or {})
    fam = config.family
    values = {fam.name: name} if fam is not None else {}
    dev = choice.device_type if device == "auto" else device
    specs = trial_specs(
        config,
        prof,
        values,
        seeds=list(seeds or config.seeds),
        overrides=rest,
        data_seed=data_seed,
        device=dev,
        cache_dir=cache_dir,
        roots=roots,
        download=download,
    )
    get_generator(specs[0].generator, dict(specs[0].params))  # --set values checked first
    make_recipe(prof, dict(specs[0].recipe))
    results = [run_trial(s, None if quiet else _printer(s.train_seed)).as_dict() for s in specs]
    if len(results) == 1:
        return results[0]
    return {
        "status": "complete" if all(r["status"] == "complete" for r in results) else "failed",
        "seeds": [s.train_seed for s in specs],
        "summary": summarize([r["metrics"] for r in results if r["status"] == "complete"]),
        "replicates": results,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation of every numeric metric over replicates."""
    out = {}
    for key in runs[0] if runs else ():
        vals = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if len(vals) == len(runs):
            arr = np.asarray(vals, dtype=float)
            out[key] = {
                "mean": float(arr.mean()),
                "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            }
    return out


def _printer(seed: int):
    from proxy_tasks.spec import PHASE_PREFIX

    def report(name: str, step: int, value: float) -> None:
        if name.startswith(PHASE_PREFIX):  # a phase starts: said once, not per step
            if step <= 1:
                print(f"seed {seed}: {name[len(PHASE_PREFIX) :]}", file=sys.stderr, flush=True)
            return
        print(f"seed {seed} {name} epoch {step}: {value:.4f}", file=sys.stderr, flush=True)

    return report
