"""``sweep trial``: one proxy trial (or its replicates) from a search-space file."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from sweep.config import (
    Config,
    generator_overrides,
    load_config,
    recipe_overrides,
    split_overrides,
)
from sweep.errors import SweepError


def _rewrap(cfg: Config, keys: tuple, err: SweepError, prefix: str) -> SweepError:
    msg = str(err)
    return cfg.error(keys, msg[len(prefix) :] if msg.startswith(prefix) else msg)


def validate_file_values(cfg: Config, profile: str) -> tuple[str, dict, dict]:
    """Generator name, fixed generator parameters and recipe overrides of the file, each value
    checked, errors pointing at the file line of the offending key."""
    from proxy_tasks.recipe import make_recipe
    from sweep.generators import generator_class

    name = cfg.data["generator"]["name"]
    try:
        gen_cls = generator_class(name)
    except SweepError as e:
        raise cfg.error(("generator", "name"), str(e)) from None
    params = generator_overrides(cfg, profile)
    for key, value in params.items():
        src = ("profiles", profile, "generator", key)
        keys = src if key in (cfg.data.get("profiles", {}).get(profile, {}).get("generator")
                              or {}) else ("generator", "params", key)  # fmt: skip
        try:
            gen_cls.resolve_params({key: value})
        except SweepError as e:
            raise _rewrap(cfg, keys, e, f"{key}: ") from None
    recipe = recipe_overrides(cfg, profile)
    try:  # the whole combination: fields constrain each other (num_heads | embed_dim, ...)
        make_recipe(profile, recipe)
    except SweepError as e:
        key = str(e).split(":", 1)[0].removeprefix("recipe.")
        keys = ("proxy", "recipe", key) if key in recipe else ("proxy", "recipe")
        if key in (cfg.data.get("profiles", {}).get(profile, {}).get("recipe") or {}):
            keys = ("profiles", profile, "recipe", key)
        raise _rewrap(cfg, keys, e, f"recipe.{key}: ") from None
    return name, params, recipe


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
    from proxy_tasks import PROXY_TASKS, run_trial
    from proxy_tasks.recipe import make_recipe
    from proxy_tasks.spec import TrialSpec
    from proxy_tasks.vit import resolve_profile, resolve_torch_device
    from sweep.generators import get_generator

    cfg = load_config(path)
    proxy = cfg.data.get("proxy") or {}
    task = proxy.get("task", "vit")
    if task not in PROXY_TASKS:
        try:
            PROXY_TASKS.get(task)
        except SweepError as e:
            raise cfg.error(("proxy", "task"), str(e)) from None
    dev = resolve_torch_device(device)
    asked = profile or proxy.get("profile", "auto")
    if asked not in ("auto", "cpu", "gpu"):
        raise cfg.error(("proxy", "profile"), f"unknown profile '{asked}'; use auto, cpu or gpu")
    prof = resolve_profile(asked, dev)
    if asked == "auto" and not quiet:
        why = "a CUDA device is available" if dev.type == "cuda" else "no CUDA device"
        print(f"sweep: profile '{prof}' ({why}); override with --profile", file=sys.stderr)
    name, params, recipe = validate_file_values(cfg, prof)
    gen_set, rec_set = split_overrides(name, sets or {})
    params.update(gen_set)
    recipe.update(rec_set)
    get_generator(name, params)  # validates --set values before anything runs
    make_recipe(prof, recipe)
    seeds = seeds or cfg.data.get("seeds") or [0]
    all_roots = dict(proxy.get("roots") or {})
    all_roots.update(roots or {})
    results = []
    for s in seeds:
        spec = TrialSpec(
            generator=name, params=params, task=task, profile=prof, recipe=recipe,
            data_seed=s if data_seed is None else data_seed, train_seed=s, device=str(dev),
            cache_dir=cache_dir, roots=all_roots, download=download,
        )  # fmt: skip
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
            out[key] = {"mean": float(arr.mean()),
                        "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0}  # fmt: skip
    return out


def _printer(seed: int):
    def report(name: str, step: int, value: float) -> None:
        print(f"seed {seed} {name} epoch {step}: {value:.4f}", file=sys.stderr, flush=True)

    return report
