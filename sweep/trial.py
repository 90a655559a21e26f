"""``sweep trial``: one proxy trial (or its replicates) from a study file.

The file is read into its typed model (:func:`sweep.schema.document.load_study_file`) and the
chosen profile's fixed values checked (:func:`sweep.schema.fixed.check_fixed`); a file without
a ``search:`` section runs too (the searched parameters keep their fixed values). ``--set``
values are routed by :func:`sweep.schema.recipe.split_overrides` and checked before anything
runs.

Imports: the standard library, numpy, :mod:`sweep.devices`, :mod:`sweep.schema`,
:mod:`sweep.generators`, :mod:`proxy_tasks` (lazily).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np


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
    """Run the trial of the study file at ``path`` once per seed; the result (one seed) or
    the replicates with the mean and standard deviation of every metric."""
    from proxy_tasks import run_trial
    from proxy_tasks.recipe import make_recipe
    from proxy_tasks.spec import TrialSpec
    from sweep.devices import pick_profile
    from sweep.generators import get_generator
    from sweep.schema.document import load_study_file
    from sweep.schema.fixed import check_fixed, trial_family
    from sweep.schema.recipe import split_overrides

    doc = load_study_file(path)
    choice = pick_profile(profile or doc.proxy.profile, device)
    choice.announce(quiet)
    prof = choice.profile
    _, params, recipe = check_fixed(doc, prof)
    name, params, sets = trial_family(doc, params, sets or {})
    gen_set, rec_set = split_overrides(name, sets)
    params.update(gen_set)
    recipe.update(rec_set)
    get_generator(name, params)  # validates --set values before anything runs
    make_recipe(prof, recipe)
    seeds = seeds or list(doc.seeds)
    all_roots = {**doc.proxy.roots, **(roots or {})}
    dev = choice.device_type if device == "auto" else device
    results = []
    for s in seeds:
        spec = TrialSpec(
            generator=name,
            params=params,
            task=doc.proxy.task,
            profile=prof,
            recipe=recipe,
            data_seed=s if data_seed is None else data_seed,
            train_seed=s,
            device=dev,
            cache_dir=cache_dir,
            roots=all_roots,
            download=download,
            options=dict(doc.proxy.options),
        )
        results.append(run_trial(spec, None if quiet else _printer(s)).as_dict())
    if len(results) == 1:
        return results[0]
    return {
        "status": "complete" if all(r["status"] == "complete" for r in results) else "failed",
        "seeds": seeds,
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
