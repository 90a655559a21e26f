"""``sweep report``: one self-contained HTML file per study, and key figures for the dashboard.

Three layers, split as in Optuna's own plots (``_get_*_info`` then ``_get_*_plot``):

* data: :func:`report_data` reads a study into plain dicts and lists (what the tests check):
  summary, trials with their resolved searched values, Spearman correlations of diversity
  against downstream accuracy (bootstrap interval, partial on the complexity controls),
  parameter importances, replicate spread and effect sizes, learning curves, failures, and
  re-rendered sample thumbnails;
* drawing: :func:`figures` turns that data into plotly figures: Optuna's visualisation
  functions (importances, parallel coordinates, slice, contour, optimisation history, Pareto
  front) run on a *view* study rebuilt from the data, whose parameters are the resolved searched
  values (``freq.min``, ``freq.max``) rather than Optuna's internal encoding of range pairs;
* page: :func:`render_html` writes one HTML file with plotly.js inlined once and the thumbnails
  embedded as PNG, so it opens offline.

:func:`write_report` is what ``sweep report`` runs; :func:`attach_to_dashboard` stores the key
figures and a note in the study, so optuna-dashboard shows the diversity scatter too.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweep.errors import SweepError
from sweep.fidelity import ranks as _ranks  # average ranks, last axis
from sweep.seeding import Seeds

ATTR_CALIBRATION = "sweep:calibration"
THUMB_PX = 96  # thumbnail size: the trial's classes drawn again at this size
THUMB_CLASSES = 6  # classes per selected trial (instance 0 of each)
N_BOOT = 2000  # bootstrap resamples for the correlation intervals
MAX_CONTOUR_PARAMS = 4  # a contour matrix grows as the square of this
LOSS_STEP = 10_000  # the engine reports step = replicate * 10000 + epoch
_BOOKKEEPING = ("n", "feature_size")  # diversity/* attributes that describe the sample


def diversity_names() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """``(PREFIX, HEADLINE, CONTROLS)`` of :mod:`sweep.diversity`, or their documented values
    while that module is absent (older installs)."""
    try:
        from sweep import diversity as d

        return str(d.PREFIX), tuple(d.HEADLINE), tuple(d.CONTROLS)
    except (ImportError, AttributeError):
        return (
            "diversity/",
            ("vendi_q1", "vendi_q2"),
            ("ink", "edges", "spectral_slope", "png_bpp"),
        )


# ============================================================================ statistics
def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of 2-D arrays; NaN where a row is constant."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(-1) / den
    r[~(den > 1e-12 * max(1.0, float(np.max(den, initial=0.0))))] = np.nan
    return np.clip(r, -1.0, 1.0)


def _residuals(v: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``v`` (B, n) with the columns of ``z`` (B, n, k) and an intercept regressed out."""
    ones = np.ones((*z.shape[:-1], 1))
    design = np.concatenate([ones, z], axis=-1)
    coef = np.linalg.pinv(design) @ v[..., None]
    return v - (design @ coef)[..., 0]


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (average ranks for ties); None when a variable is constant or n < 3."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3:
        return None
    r = float(_pearson_rows(_ranks(x)[None], _ranks(y)[None])[0])
    return None if math.isnan(r) else r


def partial_spearman(x: Sequence[float], y: Sequence[float], z: np.ndarray) -> float | None:
    """Spearman's rho of x and y with the controls ``z`` (n, k) partialled out: rank every
    variable, regress the control ranks (and an intercept) out of both, correlate the
    residuals. None when n < k + 3 or a residual is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    z = np.asarray(z, float).reshape(x.size, -1)
    if x.size < z.shape[1] + 3:
        return None
    zr = _ranks(z.T).T[None]
    rx = _residuals(_ranks(x)[None], zr)
    ry = _residuals(_ranks(y)[None], zr)
    r = float(_pearson_rows(rx, ry)[0])
    return None if math.isnan(r) else r


def _bootstrap(x, y, z, rng: np.random.Generator, n_boot: int) -> tuple[list | None, int]:
    """95% percentile interval of (partial) Spearman's rho over trials resampled with
    replacement; resamples where rho is undefined (constant ranks) are dropped. Returns the
    interval (None when fewer than half the resamples were usable) and their count."""
    n = x.size
    idx = rng.integers(0, n, size=(n_boot, n))
    rx, ry = _ranks(x[idx]), _ranks(y[idx])
    if z is not None and z.shape[1]:
        zr = _ranks(np.moveaxis(z[idx], -1, -2))  # (B, k, n): rank each control per resample
        zr = np.moveaxis(zr, -2, -1)
        rx, ry = _residuals(rx, zr), _residuals(ry, zr)
    r = _pearson_rows(rx, ry)
    r = r[~np.isnan(r)]
    if r.size < n_boot / 2:
        return None, int(r.size)
    lo, hi = np.percentile(r, [2.5, 97.5])
    return [float(lo), float(hi)], int(r.size)


def correlation(
    x: Sequence[float],
    y: Sequence[float],
    controls: Mapping[str, Sequence[float]] | None = None,
    *,
    rng: np.random.Generator,
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    """Spearman's rho with a bootstrap 95% interval, and the same partial on ``controls``.

    ``{"n", "rho", "ci", "reason", "partial": {"rho", "ci", "controls", "reason"}}``; a
    ``reason`` says why a value is None (too few trials, a constant variable)."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    n = int(xa.size)
    names = [k for k, v in (controls or {}).items() if np.ptp(np.asarray(v, float)) > 0]
    partial: dict[str, Any] = {"rho": None, "ci": None, "controls": names, "reason": None}
    out: dict[str, Any] = {"n": n, "rho": None, "ci": None, "reason": None, "partial": partial}
    if n < 3:
        out["reason"] = f"not enough trials (n={n}; a correlation needs at least 3)"
    elif np.ptp(xa) == 0 or np.ptp(ya) == 0:
        which = "diversity" if np.ptp(xa) == 0 else "accuracy"
        out["reason"] = f"the {which} is the same in every trial"
    if out["reason"]:
        partial["reason"] = out["reason"]
        return out
    out["rho"] = spearman(xa, ya)
    out["ci"], _ = _bootstrap(xa, ya, None, rng, n_boot)
    if not controls:
        partial["reason"] = "no complexity controls in the trials' attributes"
    elif not names:
        partial["reason"] = "the complexity controls are the same in every trial"
    elif n < len(names) + 3:
        partial["reason"] = (
            f"not enough trials for {len(names)} controls (n={n}; needs at least {len(names) + 3})"
        )
    else:
        za = np.column_stack([np.asarray(controls[k], float) for k in names])
        partial["rho"] = partial_spearman(xa, ya, za)
        partial["ci"], _ = _bootstrap(xa, ya, za, rng, n_boot)
        if partial["rho"] is None:
            partial["reason"] = "the residuals are constant once the controls are regressed out"
    out["partial"] = partial
    return out


# ============================================================================ reading a study
def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _mask_text(text: str) -> str:
    from sweep.space import mask_url

    return re.sub(r"\S+://\S+", lambda m: mask_url(m.group()), text)


def _mask(obj: Any) -> Any:
    if isinstance(obj, str):
        return _mask_text(obj)
    if isinstance(obj, dict):
        return {k: _mask(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_mask(v) for v in obj]
    return obj


def _objectives(study) -> list[dict[str, str]]:
    names = list(study.metric_names or [])
    dirs = [d.name.lower() for d in study.directions]
    if len(names) != len(dirs):
        names = ["value"] if len(dirs) == 1 else [f"value {i}" for i in range(len(dirs))]
    return [{"name": n, "direction": d} for n, d in zip(names, dirs, strict=True)]


def _param_columns(study, trials) -> list[dict[str, Any]]:
    """Columns of the resolved searched values: ``freq`` as ``[min, max]`` becomes
    ``freq.min`` and ``freq.max``. From the study's stored config; Optuna's own parameters
    when the study was not made by ``sweep launch``."""
    search = (study.user_attrs.get("sweep:config") or {}).get("search")
    cols: list[dict[str, Any]] = []
    if search:
        for e in search:
            name, typ = e["name"], e["type"]
            base = {
                "param": name,
                "low": e.get("low"),
                "high": e.get("high"),
                "log": bool(e.get("log")),
                "choices": e.get("choices"),
            }
            if typ in ("int_range", "float_range"):
                kind = "int" if typ == "int_range" else "float"
                for i, suffix in enumerate(("min", "max")):
                    cols.append({**base, "name": f"{name}.{suffix}", "index": i, "kind": kind})
            else:
                cols.append({**base, "name": name, "index": None, "kind": typ})
        return cols
    from optuna.distributions import CategoricalDistribution, IntDistribution

    seen: dict[str, Any] = {}
    for t in trials:
        for k, d in t.distributions.items():
            seen.setdefault(k, d)
    for k, d in seen.items():
        if isinstance(d, CategoricalDistribution):
            cols.append(
                {
                    "param": k,
                    "name": k,
                    "index": None,
                    "kind": "categorical",
                    "choices": list(d.choices),
                    "low": None,
                    "high": None,
                    "log": False,
                }
            )
        else:
            kind = "int" if isinstance(d, IntDistribution) else "float"
            cols.append(
                {
                    "param": k,
                    "name": k,
                    "index": None,
                    "kind": kind,
                    "low": d.low,
                    "high": d.high,
                    "log": d.log,
                    "choices": None,
                }
            )
    return cols


def _choice(v: Any) -> Any:
    """A categorical value Optuna can store (None, bool, int, float, str)."""
    return v if v is None or isinstance(v, bool | int | float | str) else json.dumps(v)


def _view_values(row: dict, cols: list[dict]) -> dict[str, Any] | None:
    """``{column: value}`` of a trial's resolved searched values; None when one is missing."""
    out = {}
    for c in cols:
        if c["param"] not in row["params"]:
            return None
        v = row["params"][c["param"]]
        if c["index"] is not None:
            if not isinstance(v, list | tuple) or len(v) != 2:
                return None
            v = v[c["index"]]
        if c["kind"] == "categorical":
            v = _choice(v)
        elif not _is_num(v):
            return None
        elif c["kind"] == "int":
            v = int(v)
        else:
            v = float(v)
        out[c["name"]] = v
    return out


def _trial_row(t, sweep_study: bool) -> dict[str, Any]:
    a = t.user_attrs
    params = {k[len("param:") :]: v for k, v in a.items() if k.startswith("param:")}
    if not params and not sweep_study:
        params = dict(t.params)
    err = a.get("error") or t.system_attrs.get("fail_reason")
    return {
        "number": t.number,
        "state": t.state.name,
        "values": list(t.values) if t.values is not None else None,
        "params": params,
        "metrics": {
            k: float(v)
            for k, v in a.items()
            if _is_num(v) and not k.startswith(("param:", "sweep:"))
        },
        "seeds": a.get("seeds"),
        "start": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
        "duration_s": t.duration.total_seconds() if t.duration else None,
        "error_type": a.get("error_type"),
        "error": str(err) if err is not None else None,
        "retry_of": a.get("sweep:retry_of", t.system_attrs.get("failed_trial")),
        "worker": a.get("sweep:worker"),
        "device": a.get("device"),
        "fingerprint": a.get("dataset_fingerprint"),
        "intermediate": {int(k): float(v) for k, v in sorted(t.intermediate_values.items())},
    }


def _ranked(rows: list[dict], objectives: list[dict]) -> list[dict]:
    """Completed trials, best first by the first objective."""
    done = [r for r in rows if r["state"] == "COMPLETE" and r["values"]]
    rev = bool(objectives) and objectives[0]["direction"] == "maximize"
    return sorted(done, key=lambda r: (r["values"][0] * (-1 if rev else 1), r["number"]))


def _best(study, rows, objectives) -> list[int]:
    if len(objectives) > 1:
        try:
            return sorted(t.number for t in study.best_trials)
        except (ValueError, RuntimeError):
            return []
    return [r["number"] for r in _ranked(rows, objectives)[:5]]


def _summary(study, rows, objectives) -> dict[str, Any]:
    from collections import Counter

    from sweep.space import mask_url

    a = study.user_attrs
    cfg = _mask(a.get("sweep:config") or {})
    counts = Counter(r["state"] for r in rows)
    starts = [t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start]
    ends = [t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete]
    busy = sum(r["duration_s"] or 0.0 for r in rows)
    storage = getattr(study._storage, "url", None) or cfg.get("storage")
    return {
        "name": study.study_name,
        "question": a.get("question") or cfg.get("question"),
        "objectives": objectives,
        "counts": {
            k: counts.get(k, 0) for k in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
        },
        "n_trials": len(rows),
        "generator": cfg.get("generator", {}).get("name"),
        "generator_version": cfg.get("generator", {}).get("version"),
        "fixed_params": cfg.get("generator", {}).get("params"),
        "search": cfg.get("search"),
        "task": cfg.get("proxy", {}).get("task"),
        "recipe": cfg.get("proxy", {}).get("resolved"),
        "profile": a.get("sweep:profile"),
        "seeds": cfg.get("seeds"),
        "sampler": cfg.get("sampler"),
        "pruner": cfg.get("pruner"),
        "budget": a.get("sweep:budget"),
        "versions": a.get("sweep:versions"),
        "git_commit": a.get("sweep:git_commit"),
        "file": a.get("sweep:file"),
        "file_text": _mask_text(a.get("sweep:file_text") or "") or None,
        "storage": mask_url(str(storage)) if storage else None,
        "first_start": min(starts).isoformat(timespec="seconds") if starts else None,
        "last_complete": max(ends).isoformat(timespec="seconds") if ends else None,
        "trial_hours": busy / 3600.0,
        "sweep_study": "sweep:config" in a,
    }


# ----------------------------------------------------------------------------- diversity
def _diversity(rows, objectives, seed: int, n_boot: int) -> dict[str, Any]:
    prefix, headline, controls = diversity_names()
    done = [r for r in rows if r["state"] == "COMPLETE"]
    keys = sorted(
        {
            k
            for r in done
            for k in r["metrics"]
            if (k.startswith(prefix) or k.endswith(("/rankme", "/feature_vendi")))
            and not k.endswith("_std")
            and k[len(prefix) :] not in _BOOKKEEPING
        }
    )
    control_keys = [prefix + c for c in controls if prefix + c in keys]
    head_keys = [prefix + h for h in headline if prefix + h in keys]
    order = {k: i for i, k in enumerate(head_keys)}
    rest = sorted(k for k in keys if k not in order and k not in control_keys)
    keys = head_keys + rest + control_keys
    if any("headline" in r["metrics"] for r in done):
        y_key, y_of = "headline", (lambda r: r["metrics"].get("headline"))
    else:
        y_key = objectives[0]["name"] if objectives else "value"
        y_of = lambda r: r["values"][0] if r["values"] else None  # noqa: E731
    out: dict[str, Any] = {
        "y": y_key,
        "headline": head_keys,
        "controls": control_keys,
        "correlations": [],
        "reason": None,
    }
    if not done:
        out["reason"] = "no completed trials"
        return out
    if not keys:
        out["reason"] = (
            "the trials carry no diversity attributes (diversity/*): studies run "
            "before the diversity block was added have none"
        )
        return out
    seeds = Seeds(seed)
    for k in keys:
        pts = [r for r in done if _is_num(r["metrics"].get(k)) and _is_num(y_of(r))]
        ctl = [c for c in control_keys if c != k]
        ctl = [c for c in ctl if all(_is_num(r["metrics"].get(c)) for r in pts)]
        x = [r["metrics"][k] for r in pts]
        y = [float(y_of(r)) for r in pts]
        corr = correlation(
            x,
            y,
            {c: [r["metrics"][c] for r in pts] for c in ctl},
            rng=seeds.rng("report", "bootstrap", k, y_key),
            n_boot=n_boot,
        )
        corr.update(x=k, y=y_key, headline=k in head_keys, control=k in control_keys)
        corr["points"] = [
            {
                "number": r["number"],
                "x": r["metrics"][k],
                "y": float(y_of(r)),
                "x_std": r["metrics"].get(k + "_std"),
                "y_std": r["metrics"].get(y_key + "_std"),
                "params": r["params"],
            }
            for r in pts
        ]
        out["correlations"].append(corr)
    return out


# ----------------------------------------------------------------------------- replicates
def _combine(means, stds, ns) -> tuple[float, float | None, int]:
    """Mean and sample std of the union of groups given each group's mean, std and size."""
    means, ns = np.asarray(means, float), np.asarray(ns, int)
    n = int(ns.sum())
    m = float((means * ns).sum() / n)
    if n < 2 or any(s is None and k > 1 for s, k in zip(stds, ns, strict=True)):
        return m, None, n
    ss = sum((k - 1) * (s or 0.0) ** 2 for s, k in zip(stds, ns, strict=True))
    ss += float((ns * (means - m) ** 2).sum())
    return m, math.sqrt(ss / (n - 1)), n


def _replicates(rows, objectives) -> dict[str, Any]:
    out: dict[str, Any] = {"metric": None, "configs": [], "sigma": None, "reason": None}
    ranked = _ranked(rows, objectives)
    if not ranked:
        out["reason"] = "no completed trials"
        return out
    metric = objectives[0]["name"]
    maximize = objectives[0]["direction"] == "maximize"
    out["metric"] = metric
    groups: dict[str, list[dict]] = {}
    for r in ranked:
        groups.setdefault(json.dumps(r["params"], sort_keys=True), []).append(r)
    configs = []
    for key, group in groups.items():
        # Trials of a configuration with the same seeds (a retry, a sampler repeat) are the
        # same runs again, not replicates: count each seed set once.
        rs = list({json.dumps(r["seeds"]): r for r in reversed(group)}.values())[::-1]
        ns = [max(1, len(r["seeds"] or [1])) for r in rs]
        stds = [r["metrics"].get(metric + "_std") for r in rs]
        mean, std, n = _combine([r["values"][0] for r in rs], stds, ns)
        configs.append(
            {
                "params": json.loads(key),
                "trials": sorted(r["number"] for r in group),
                "seeds": n,
                "mean": mean,
                "std": std,
            }
        )
    configs.sort(key=lambda c: -c["mean"] if maximize else c["mean"])
    dof = sum(c["seeds"] - 1 for c in configs if c["std"] is not None)
    if dof:
        var = sum((c["seeds"] - 1) * c["std"] ** 2 for c in configs if c["std"] is not None)
        out["sigma"] = math.sqrt(var / dof)
    best = configs[0]["mean"]
    for c in configs:
        c["gap"] = (best - c["mean"]) if maximize else (c["mean"] - best)
        s = min(c["seeds"], configs[0]["seeds"])
        if out["sigma"] and out["sigma"] > 0:
            c["effect"] = c["gap"] / out["sigma"]
            c["mdd"] = 2.8 * out["sigma"] * math.sqrt(2.0 / s)
            c["within_noise"] = c["gap"] < c["mdd"]
        else:
            c["effect"] = c["mdd"] = c["within_noise"] = None
    out["configs"] = configs
    if out["sigma"] is None:
        out["reason"] = (
            "one seed per configuration: no replicate spread, so effect sizes "
            "cannot be put in units of the seed noise (give the study "
            "seeds: [0, 1, 2])"
        )
    return out


# ----------------------------------------------------------------------------- curves
def _learning_curves(rows, objectives, sweep_study: bool) -> dict[str, Any]:
    sign = 1.0 if objectives and objectives[0]["direction"] == "maximize" else -1.0
    curves = []
    for r in rows:
        if not r["intermediate"]:
            continue
        by_rep: dict[int, list[tuple[int, float]]] = {}
        for step, v in r["intermediate"].items():
            rep, epoch = divmod(step, LOSS_STEP) if sweep_study else (0, step)
            by_rep.setdefault(rep, []).append((epoch, -sign * v if sweep_study else v))
        for rep, pts in sorted(by_rep.items()):
            pts.sort()
            curves.append(
                {
                    "number": r["number"],
                    "state": r["state"],
                    "replicate": rep,
                    "epochs": [p[0] for p in pts],
                    "values": [p[1] for p in pts],
                }
            )
    label = "pre-training loss" if sweep_study else "intermediate value"
    reason = (
        None
        if curves
        else (
            "no intermediate values (multi-objective studies report none)"
            if len(objectives) > 1
            else "no intermediate values"
        )
    )
    return {"label": label, "curves": curves, "reason": reason}


def _failures(rows) -> list[dict[str, Any]]:
    retried_by: dict[int, list[int]] = {}
    for r in rows:
        if r["retry_of"] is not None:
            retried_by.setdefault(int(r["retry_of"]), []).append(r["number"])
    out = []
    for r in rows:
        if r["state"] not in ("FAIL", "PRUNED"):
            continue
        reason = r["error"]
        if r["state"] == "PRUNED" and not reason:
            if r["intermediate"]:
                rep, epoch = divmod(max(r["intermediate"]), LOSS_STEP)
                reason = f"pruned at epoch {epoch}" + (f" of replicate {rep}" if rep else "")
            else:
                reason = "pruned"
        out.append(
            {
                "number": r["number"],
                "state": r["state"],
                "error_type": r["error_type"] or ("pruned" if r["state"] == "PRUNED" else None),
                "reason": reason or "no reason recorded",
                "params": r["params"],
                "duration_s": r["duration_s"],
                "worker": r["worker"],
                "retry_of": r["retry_of"],
                "retried_by": retried_by.get(r["number"], []),
            }
        )
    return out


# ----------------------------------------------------------------------------- samples
def dataset_spec(trial_attrs: Mapping[str, Any], study_attrs: Mapping[str, Any]):
    """The :class:`DatasetSpec` a trial pre-trained on, and why not when it cannot be told.

    From the trial's ``dataset`` attribute; for studies made before it existed, rebuilt from
    the stored config and the trial's resolved values. Either way the spec's fingerprint must
    equal the one the trial recorded, so a thumbnail is never of another dataset."""
    from sweep.dataset import Dataset, DatasetSpec

    want = trial_attrs.get("dataset_fingerprint")
    d = trial_attrs.get("dataset")
    try:
        if isinstance(d, Mapping):
            spec = DatasetSpec(
                d["generator"],
                classes=int(d["classes"]),
                instances=int(d["instances"]),
                image_size=int(d["image_size"]),
                seed=int(d["seed"]),
                params=dict(d.get("params") or {}),
            )
            want = d.get("fingerprint") or want
        else:
            spec = _spec_from_config(trial_attrs, study_attrs)
            if spec is None:
                return None, "the trial has no dataset attribute and the study no sweep config"
        got = Dataset(spec).fingerprint
    except (SweepError, KeyError, TypeError, ValueError) as e:
        return None, f"cannot rebuild the dataset: {e}"
    if want and got != want:
        return None, f"the rebuilt dataset's fingerprint {got} differs from the trial's {want}"
    return spec, None


def _spec_from_config(trial_attrs, study_attrs):
    from sweep.dataset import DatasetSpec

    cfg = study_attrs.get("sweep:config")
    if not cfg:
        return None
    params = dict(cfg["generator"].get("params") or {})
    recipe = dict(cfg["proxy"]["resolved"])
    for e in cfg.get("search") or []:
        v = trial_attrs.get(f"param:{e['name']}")
        for t in e.get("targets") or [e["name"]]:
            if t.startswith("recipe."):
                recipe[t[len("recipe.") :]] = v
            elif not t.startswith("proxy."):
                params[t] = v
    seeds = trial_attrs.get("seeds") or cfg.get("seeds") or [0]
    seed = cfg.get("data_seed")
    return DatasetSpec(
        cfg["generator"]["name"],
        classes=int(recipe["classes"]),
        instances=int(recipe["instances"]),
        image_size=int(recipe["img_size"]),
        seed=int(seed if seed is not None else seeds[0]),
        params=params,
    )


def _png(img) -> str:
    import cv2

    ok, buf = cv2.imencode(
        ".png", np.asarray(img, dtype=np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 greys
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode()


def thumbnails(spec, *, px: int = THUMB_PX, n_classes: int = THUMB_CLASSES) -> list[dict]:
    """Instance 0 of up to ``n_classes`` classes spread over the dataset, drawn again at ``px``
    pixels (same seed and class parameters), as base64 PNG; when the trial trained on smaller
    images, also the exact image it trained on (``trained_png``)."""
    import dataclasses

    from sweep.dataset import Dataset

    trained = Dataset(spec)
    big = trained if spec.image_size == px else Dataset(dataclasses.replace(spec, image_size=px))
    picks = sorted(
        {round(c) for c in np.linspace(0, big.classes - 1, min(n_classes, big.classes))}
    )
    out = []
    for c in picks:
        entry = {"class": c, "png": _png(big.render_class(c, instances=[0])[0])}
        if spec.image_size < px:
            entry["trained_png"] = _png(trained.render_class(c, instances=[0])[0])
        out.append(entry)
    return out


def _select(ranked: list[dict], k_best: int = 3, k_worst: int = 3, k_spread: int = 4):
    """``[(row, rank)]``: the best, the worst and a spread of ranks between them."""
    n = len(ranked)
    if n <= k_best + k_worst + k_spread:
        return [(r, i + 1) for i, r in enumerate(ranked)]
    middle = list(range(k_best, n - k_worst))
    spread = sorted(
        {middle[round(p)] for p in np.linspace(0, len(middle) - 1, k_spread + 2)[1:-1]}
    )
    picks = list(range(k_best)) + spread + list(range(n - k_worst, n))
    return [(ranked[i], i + 1) for i in picks]


def _samples(study, rows, objectives, enabled: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"px": THUMB_PX, "rows": [], "reason": None}
    ranked = _ranked(rows, objectives)
    if not ranked:
        out["reason"] = "no completed trials"
        return out
    if not enabled:
        out["reason"] = "thumbnails were not requested"
        return out
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    n = len(ranked)
    for r, rank in _select(ranked):
        t = trials[r["number"]]
        entry = {
            "number": r["number"],
            "rank": rank,
            "of": n,
            "value": r["values"][0],
            "params": r["params"],
            "images": [],
            "trained_px": None,
            "reason": None,
        }
        spec, why = dataset_spec(t.user_attrs, study.user_attrs)
        if spec is None:
            entry["reason"] = why
        else:
            entry["trained_px"] = spec.image_size
            try:
                entry["images"] = thumbnails(spec)
            except Exception as e:  # a generator that cannot draw at this size, say
                entry["reason"] = f"re-rendering failed: {type(e).__name__}: {e}"
        out["rows"].append(entry)
    return out


# ----------------------------------------------------------------------------- importances
def _evaluator(seed: int, i: int):
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=Seeds(seed).key32("report", "importance", i))


def _importances(view, columns, objectives, seed: int) -> dict[str, Any]:
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState

    done = view.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: dict[str, Any] = {"by_objective": {}, "reason": None}
    varying = [c["name"] for c in columns if len({t.params.get(c["name"]) for t in done}) > 1]
    if len(done) < 2:
        out["reason"] = (
            f"{len(done)} completed trial{'s' if len(done) != 1 else ''} with "
            "searched values: importances need at least 2"
        )
        return out
    if not varying:
        out["reason"] = "every completed trial has the same searched values"
        return out
    for i, o in enumerate(objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = get_param_importances(
                    view, evaluator=_evaluator(seed, i), target=lambda t, i=i: t.values[i]
                )
        except (ValueError, RuntimeError) as e:
            out["reason"] = f"Optuna could not compute importances: {e}"
            return out
        out["by_objective"][o["name"]] = {k: float(v) for k, v in imp.items()}
    return out


# ----------------------------------------------------------------------------- the data
def report_data(study, *, seed: int = 0, n_boot: int = N_BOOT, samples: bool = True) -> dict:
    """Everything the report shows, as plain dicts and lists (no figures).

    ``seed`` seeds the bootstrap intervals and fANOVA importances (through
    :class:`sweep.seeding.Seeds`); ``samples=False`` skips re-rendering thumbnails."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _report_data(study, seed, n_boot, samples)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _report_data(study, seed, n_boot, samples) -> dict:
    sweep_study = "sweep:config" in study.user_attrs
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    rows = [_trial_row(t, sweep_study) for t in trials]
    objectives = _objectives(study)
    columns = _param_columns(study, trials)
    for r in rows:
        r["view"] = _view_values(r, columns)
    data: dict[str, Any] = {
        "format": 1,
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
        "seed": seed,
        "summary": _summary(study, rows, objectives),
        "objectives": objectives,
        "columns": columns,
        "trials": rows,
        "best": _best(study, rows, objectives),
    }
    view = view_study(data)
    data["importances"] = _importances(view, columns, objectives, seed)
    data["diversity"] = _diversity(rows, objectives, seed, n_boot)
    data["replicates"] = _replicates(rows, objectives)
    data["learning"] = _learning_curves(rows, objectives, sweep_study)
    data["failures"] = _failures(rows)
    data["samples"] = _samples(study, rows, objectives, samples)
    return data


# ============================================================================ drawing
def _distribution(c: dict, values: list):
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if c["kind"] == "categorical":
        choices = [_choice(v) for v in (c["choices"] or [])]
        for v in values:
            if v not in choices:
                choices.append(v)
        return CategoricalDistribution(choices or [None])
    nums = [v for v in values if v is not None]
    lo = min([x for x in (c["low"], *nums) if x is not None], default=0)
    hi = max([x for x in (c["high"], *nums) if x is not None], default=lo)
    log = bool(c["log"]) and lo > 0
    if c["kind"] == "int":
        return IntDistribution(math.floor(lo), math.ceil(hi), log=log)
    return FloatDistribution(float(lo), float(hi), log=log)


def view_study(data: dict):
    """An in-memory Optuna study of the report's data whose parameters are the resolved
    searched values: trial ``n`` of the view is trial ``n`` of the study (trials that cannot be
    shown, running or without searched values, are FAIL placeholders)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    objectives = data["objectives"]
    study = optuna.create_study(directions=[o["direction"] for o in objectives] or None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names([o["name"] for o in objectives])
    cols = data["columns"]
    dists = {
        c["name"]: _distribution(c, [r["view"][c["name"]] for r in data["trials"] if r["view"]])
        for c in cols
    }
    made = []
    for r in data["trials"]:
        state = TrialState[r["state"]]
        ok = r["view"] is not None and state in (
            TrialState.COMPLETE,
            TrialState.PRUNED,
            TrialState.FAIL,
        )
        if not ok or (state == TrialState.COMPLETE and not r["values"]):
            made.append(create_trial(state=TrialState.FAIL))
            continue
        made.append(
            create_trial(
                state=state,
                params=r["view"],
                distributions=dists,
                values=r["values"] if state == TrialState.COMPLETE else None,
                intermediate_values=r["intermediate"],
                user_attrs={"number": r["number"]},
            )
        )
    study.add_trials(made)
    return study


def _fig_layout(fig, title: str, height: int = 420):
    fig.update_layout(
        title={"text": title, "font": {"size": 15}},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 30, "t": 100, "b": 50},
    )
    return fig


def _fmt_ci(rho, ci) -> str:
    if rho is None:
        return "n/a"
    s = f"{rho:+.2f}"
    return s + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else " [interval n/a]")


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items())


def diversity_figure(corr: dict):
    """The scatter of one diversity metric against downstream accuracy, one point per trial."""
    import plotly.graph_objects as go

    pts = corr["points"]
    err = {}
    if any(p["x_std"] is not None for p in pts):
        err["error_x"] = {
            "type": "data",
            "array": [p["x_std"] or 0 for p in pts],
            "thickness": 1,
            "color": "#9ab",
        }
    if any(p["y_std"] is not None for p in pts):
        err["error_y"] = {
            "type": "data",
            "array": [p["y_std"] or 0 for p in pts],
            "thickness": 1,
            "color": "#9ab",
        }
    fig = go.Figure(
        go.Scatter(
            x=[p["x"] for p in pts],
            y=[p["y"] for p in pts],
            mode="markers",
            marker={"size": 10, "color": "#1f77b4", "line": {"width": 1, "color": "white"}},
            customdata=[p["number"] for p in pts],
            text=[f"trial {p['number']}<br>{_params_text(p['params'])}" for p in pts],
            hovertemplate="%{text}<br>x=%{x:.4g}<br>y=%{y:.4g}<extra></extra>",
            **err,
        )
    )
    p = corr.get("partial") or {}
    stats = (
        f"Spearman ρ {_fmt_ci(corr['rho'], corr['ci'])}, n={corr['n']}"
        if corr["rho"] is not None
        else html.escape(corr["reason"] or "")
    )
    partial = (
        f"partial on {', '.join(c.split('/')[-1] for c in p['controls'])}: "
        f"ρ {_fmt_ci(p['rho'], p['ci'])}"
        if p.get("rho") is not None
        else html.escape(p.get("reason") or "")
    )
    title = f"<b>{html.escape(corr['x'])}</b> vs {html.escape(corr['y'])}<br><sup>{stats}"
    _fig_layout(
        fig, title + (f"<br>{partial}" if partial and corr["rho"] is not None else "") + "</sup>"
    )
    fig.update_xaxes(title=corr["x"])
    fig.update_yaxes(title=corr["y"])
    return fig


def replicate_figure(rep: dict):
    import plotly.graph_objects as go

    cs = rep["configs"]
    labels = [f"#{','.join(str(n) for n in c['trials'])}" for c in cs]
    fig = go.Figure(
        go.Scatter(
            x=labels,
            y=[c["mean"] for c in cs],
            mode="markers",
            error_y={"type": "data", "array": [c["std"] or 0 for c in cs], "visible": True},
            customdata=[c["trials"][0] for c in cs],
            text=[f"{_params_text(c['params'])}<br>{c['seeds']} seed(s)" for c in cs],
            hovertemplate="trial %{x}<br>%{text}<br>mean %{y:.4g}<extra></extra>",
            marker={"size": 9},
        )
    )
    _fig_layout(fig, f"{rep['metric']}: mean ± seed std per configuration (best first)")
    fig.update_xaxes(title="configuration (trial numbers)", type="category")
    fig.update_yaxes(title=rep["metric"])
    return fig


def learning_figure(lc: dict, objectives: list[dict]):
    import plotly.graph_objects as go

    fig = go.Figure()
    colors = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728"}
    for c in lc["curves"]:
        fig.add_trace(
            go.Scatter(
                x=c["epochs"],
                y=c["values"],
                mode="lines+markers",
                name=f"trial {c['number']}" + (f" r{c['replicate']}" if c["replicate"] else ""),
                line={"color": colors.get(c["state"], "#7f7f7f"), "width": 1},
                marker={"size": 4},
                customdata=[c["number"]] * len(c["epochs"]),
                showlegend=False,
                hovertemplate=f"trial {c['number']} ({c['state'].lower()}), replicate "
                f"{c['replicate']}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
    _fig_layout(fig, f"{lc['label']} per epoch (blue complete, orange pruned, red failed)")
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=lc["label"])
    return fig


def _optuna_plot(fn: Callable, *args, **kw):
    """An Optuna figure, or the reason it cannot be drawn."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kw)
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return f"Optuna could not draw it: {e}"


def figures(data: dict) -> dict[str, Any]:
    """Plotly figures of the report's data, by name; a string instead of a figure says why
    that figure is missing."""
    import optuna
    import optuna.visualization as ov

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _figures(data, ov)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _figures(data: dict, ov) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    objectives = data["objectives"]
    multi = len(objectives) > 1
    done = [r for r in data["trials"] if r["state"] == "COMPLETE" and r["view"] is not None]
    none = "no completed trials" if not done else None
    for corr in data["diversity"]["correlations"]:
        if corr["headline"]:
            figs[f"diversity:{corr['x']}"] = (
                diversity_figure(corr) if corr["points"] else "no trial has this metric"
            )
    view = view_study(data)
    target = {"target": (lambda t: t.values[0]), "target_name": objectives[0]["name"]}
    if not multi:
        target = {"target_name": objectives[0]["name"]}
    imp = data["importances"]
    if imp["reason"]:
        figs["importances"] = imp["reason"]
    else:
        for i, o in enumerate(objectives):
            fig = _optuna_plot(
                ov.plot_param_importances,
                view,
                evaluator=_evaluator(data["seed"], i),
                target=lambda t, i=i: t.values[i],
                target_name=o["name"],
            )
            figs[f"importances:{o['name']}"] = fig
    names = [c["name"] for c in data["columns"]]
    varying = [n for n in names if len({r["view"][n] for r in done}) > 1]
    if none or not names:
        for k in ("parallel", "slice", "contour"):
            figs[k] = none or "the study has no searched parameters"
    else:
        figs["parallel"] = _optuna_plot(ov.plot_parallel_coordinate, view, params=names, **target)
        figs["slice"] = _optuna_plot(ov.plot_slice, view, params=names, **target)
        if len(varying) < 2:
            figs["contour"] = "a contour plot needs two searched values that vary between trials"
        else:
            order = imp["by_objective"].get(objectives[0]["name"]) or {}
            top = sorted(varying, key=lambda n: -order.get(n, 0))[:MAX_CONTOUR_PARAMS]
            figs["contour"] = _optuna_plot(ov.plot_contour, view, params=top, **target)
    if multi:
        if none:
            figs["pareto"] = none
        elif len(objectives) > 3:
            figs["pareto"] = "a Pareto-front plot shows 2 or 3 objectives"
        else:
            figs["pareto"] = _optuna_plot(
                ov.plot_pareto_front, view, target_names=[o["name"] for o in objectives]
            )
    else:
        figs["history"] = none or _optuna_plot(
            ov.plot_optimization_history, view, target_name=objectives[0]["name"]
        )
    lc = data["learning"]
    figs["learning"] = lc["reason"] or learning_figure(lc, objectives)
    rep = data["replicates"]
    figs["replicates"] = rep["reason"] if not rep["configs"] else replicate_figure(rep)
    for v in figs.values():
        if not isinstance(v, str):
            v.update_layout(template="plotly_white")
    return figs


# ============================================================================ the page
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.9}nav{padding:8px 28px;background:#e9eef3;position:sticky;
top:0;z-index:10;font-size:13px}nav a{margin-right:14px;color:#1f3b57}
main{padding:8px 28px 40px;max-width:1400px}section{background:#fff;border:1px solid #e3e3e3;
border-radius:6px;padding:14px 18px;margin:16px 0}h2{margin:0 0 8px;font-size:18px;
color:#1f3b57}table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7}tr:target{background:#fff3c4}.num{text-align:right;
font-variant-numeric:tabular-nums}.why{color:#8a5a00;background:#fff8e6;padding:6px 10px;
border-radius:4px;display:inline-block}.grid2{display:grid;grid-template-columns:1fr 1fr;
gap:12px}.srow{display:flex;align-items:center;gap:6px;margin:6px 0;flex-wrap:wrap}
.slabel{width:230px;font-size:12px;color:#222;text-decoration:none}.srow img{border:1px solid
#ccc;image-rendering:pixelated;background:#000}.thumb{display:inline-flex;flex-direction:column;
align-items:center;gap:2px}.kv td:first-child{color:#555;white-space:nowrap}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;max-height:420px}
.err{display:none;background:#fdd;color:#900;padding:8px 28px}.small{font-size:12px;
color:#666}details summary{cursor:pointer;color:#1f3b57}
"""

# Records script errors into the page (a banner, and html[data-errors] for headless checks).
_RECORDER = """(function(){var errs=[];function put(){var d=document.documentElement;
d.setAttribute('data-errors',JSON.stringify(errs));var b=document.getElementById('errors');
if(b&&errs.length){b.style.display='block';b.textContent='Script errors on this page: '+
errs.join(' | ');}}window.addEventListener('error',function(e){errs.push(String(e.message||
e.type));put();},true);window.addEventListener('unhandledrejection',function(e){
errs.push('unhandled rejection: '+String(e.reason));put();});var ce=console.error;
console.error=function(){errs.push(Array.prototype.map.call(arguments,String).join(' '));put();
return ce.apply(console,arguments);};window.__sweepErrors=errs;
document.addEventListener('DOMContentLoaded',put);put();})();"""

_FINISH = """(function(){var n=0;document.querySelectorAll('.figure').forEach(function(d){
var p=d.querySelector('.js-plotly-plot');if(!p){return;}n+=1;if(d.dataset.trialClick&&p.on){
p.on('plotly_click',function(e){var c=e.points&&e.points[0]&&e.points[0].customdata;
if(c!==undefined&&c!==null){location.hash='trial-'+c;}});}});
document.documentElement.setAttribute('data-plots',String(n));})();"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return _e(v)


def _why(text: str) -> str:
    return f'<p class="why">{_e(text)}</p>'


def _fig_html(figs: dict, name: str, *, click: bool = False, height: int | None = None) -> str:
    fig = figs.get(name)
    if fig is None:
        return ""
    if isinstance(fig, str):
        return _why(fig)
    div_id = "fig-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
        default_height=height or fig.layout.height or 450,
    )
    attr = ' data-trial-click="1"' if click else ""
    return f'<div class="figure"{attr}>{body}</div>'


def _table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    ids: Sequence[str] | None = None,
    num: Sequence[int] = (),
) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    body = []
    for i, r in enumerate(rows):
        rid = f' id="{ids[i]}"' if ids else ""
        cells = "".join(
            f'<td class="num">{c}</td>' if j in num else f"<td>{c}</td>" for j, c in enumerate(r)
        )
        body.append(f"<tr{rid}>{cells}</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _link(n: int) -> str:
    return f'<a href="#trial-{n}">#{n}</a>'


def _params_html(params: Mapping[str, Any]) -> str:
    return _e(_params_text(params))


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>{body}</section>'


def _summary_html(data: dict) -> str:
    s = data["summary"]
    objectives = ", ".join(f"{o['name']} ({o['direction']})" for o in data["objectives"])
    c = s["counts"]
    kv = [
        ("study", s["name"]),
        ("question", s["question"] or "(none recorded)"),
        ("objectives", objectives),
        ("trials", f"{s['n_trials']}: " + ", ".join(f"{k.lower()} {v}" for k, v in c.items())),
        ("generator", f"{s['generator']} v{s['generator_version']}" if s["generator"] else None),
        (
            "fixed generator parameters",
            json.dumps(s["fixed_params"]) if s["fixed_params"] is not None else None,
        ),
        (
            "searched",
            "; ".join(
                f"{e['name']}: {e['type']}"
                + (
                    f" {e.get('choices')}"
                    if e.get("choices")
                    else f" [{e.get('low')}, {e.get('high')}]"
                )
                + (f" -> {', '.join(e.get('targets') or [])}" if e.get("targets") else "")
                for e in s["search"]
            )
            if s["search"]
            else None,
        ),
        ("proxy task", f"{s['task']} (profile {s['profile']})" if s["task"] else None),
        ("seeds per configuration", json.dumps(s["seeds"]) if s["seeds"] else None),
        (
            "sampler / pruner",
            f"{(s['sampler'] or {}).get('name')} / {(s['pruner'] or {}).get('name')}"
            if s["sampler"]
            else None,
        ),
        ("budget", json.dumps(s["budget"]) if s["budget"] else None),
        (
            "time",
            f"{s['first_start']} to {s['last_complete']}; {s['trial_hours']:.2f} trial-hours"
            if s["first_start"]
            else None,
        ),
        ("storage", s["storage"]),
        ("search-space file", s["file"]),
        ("git commit", s["git_commit"]),
        ("versions", ", ".join(f"{k} {v}" for k, v in (s["versions"] or {}).items()) or None),
        ("report", f"generated {data['generated']} by sweep report (seed {data['seed']})"),
    ]
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in kv if v is not None)
    out = [f'<table class="kv">{rows}</table>']
    if not c["COMPLETE"]:
        n_fail = c["FAIL"]
        out.append(
            _why(
                "No completed trials"
                + (f": {n_fail} failed (see Failed and pruned trials)" if n_fail else " yet")
                + "."
            )
        )
    best = {r["number"]: r for r in data["trials"]}
    if data["best"]:
        title = "Pareto front" if len(data["objectives"]) > 1 else "Best trials"
        names = [o["name"] for o in data["objectives"]]
        rows2 = []
        for n in data["best"]:
            r = best[n]
            stds = [r["metrics"].get(f"{m}_std") for m in names]
            vals = [
                _num(v) + (f" ± {_num(sd, 2)}" if sd is not None else "")
                for v, sd in zip(r["values"], stds, strict=True)
            ]
            rows2.append([_link(n), *vals, _params_html(r["params"])])
        out.append(
            f"<h3>{title}</h3>"
            + _table(["trial", *names, "searched values"], rows2, num=range(1, len(names) + 1))
        )
    if s["file_text"]:
        out.append(
            f"<details><summary>search-space file</summary><pre>{_e(s['file_text'])}"
            "</pre></details>"
        )
    if s["recipe"]:
        out.append(
            "<details><summary>resolved proxy recipe</summary><pre>"
            f"{_e(json.dumps(s['recipe'], indent=1))}</pre></details>"
        )
    return "".join(out)


def _thumb_html(number: int, im: dict, px: int) -> str:
    tip = f"trial {number}, class {im['class']}"
    out = (
        f'<a href="#trial-{number}"><img alt="trial {number} class {im["class"]}" '
        f'title="{tip}, drawn at {px} px" width="{px}" height="{px}" '
        f'src="data:image/png;base64,{im["png"]}"></a>'
    )
    if im.get("trained_png"):
        small = px // 2
        out += (
            f'<img class="trained" alt="trial {number} class {im["class"]} as trained" '
            f'title="{tip}: the image it trained on" width="{small}" height="{small}" '
            f'src="data:image/png;base64,{im["trained_png"]}">'
        )
    return f'<span class="thumb">{out}</span>'


def _samples_html(data: dict) -> str:
    sm = data["samples"]
    if sm["reason"]:
        return _why(sm["reason"])
    name = data["objectives"][0]["name"]
    out = [
        f'<p class="small">Instance 0 of up to {THUMB_CLASSES} classes of each trial\'s '
        f"pre-training dataset, drawn again at {sm['px']} px from its stored spec (same "
        "seed and class parameters; the fingerprint is checked) and, below it when smaller, the "
        "exact image the trial trained on. Best first; click a row for the trial's "
        "parameters.</p>"
    ]
    for r in sm["rows"]:
        tag = " (best)" if r["rank"] == 1 else (" (worst)" if r["rank"] == r["of"] else "")
        label = (
            f'<a class="slabel" href="#trial-{r["number"]}"><b>rank {r["rank"]}/{r["of"]}'
            f"{tag}</b>: trial {r['number']}<br>{_e(name)} {_num(r['value'])}<br>"
            f"{_params_html(r['params'])}"
            + (f"<br>trained at {r['trained_px']} px" if r["trained_px"] else "")
            + "</a>"
        )
        if r["reason"]:
            imgs = _why(r["reason"])
        else:
            imgs = "".join(_thumb_html(r["number"], im, sm["px"]) for im in r["images"])
        out.append(f'<div class="srow">{label}{imgs}</div>')
    return "".join(out)


def _diversity_html(data: dict, figs: dict) -> str:
    dv = data["diversity"]
    if dv["reason"]:
        return _why(dv["reason"])
    out = [
        f'<p class="small">One point per completed trial (error bars: seed std). '
        f"Spearman's ρ of each diversity metric with {_e(dv['y'])}, a 95% bootstrap interval "
        f"over trials ({N_BOOT} resamples), and the same partial on the complexity controls "
        f"(ranks of {_e(', '.join(dv['controls']) or 'none present')} regressed out). Click a "
        "point for its trial.</p>"
    ]
    heads = [f"diversity:{k}" for k in dv["headline"]]
    if heads:
        out.append(
            '<div class="grid2">'
            + "".join(_fig_html(figs, h, click=True) for h in heads)
            + "</div>"
        )
    else:
        out.append(_why("the headline diversity metrics are missing; the table has the rest"))
    rows = []
    for c in dv["correlations"]:
        p = c["partial"] or {}
        kind = "headline" if c["headline"] else ("control" if c["control"] else "")
        rows.append(
            [
                _e(c["x"]),
                kind,
                str(c["n"]),
                _fmt_ci(c["rho"], c["ci"]),
                _fmt_ci(p.get("rho"), p.get("ci")),
                _e(c["reason"] or p.get("reason") or ""),
            ]
        )
    out.append(
        _table(
            ["metric", "", "n", f"ρ with {dv['y']} [95% CI]", "partial ρ [95% CI]", "note"],
            rows,
            num=(2, 3, 4),
        )
    )
    return "".join(out)


def _replicates_html(data: dict, figs: dict) -> str:
    rep = data["replicates"]
    if not rep["configs"]:
        return _why(rep["reason"])
    out = []
    if rep["reason"]:
        out.append(_why(rep["reason"]))
    else:
        out.append(
            f'<p class="small">Seed std pooled over configurations σ = '
            f"{rep['sigma']:.3g}. Effect size: the gap to the best configuration in "
            "units of σ; MDD = 2.8 σ √(2/S) is the smallest gap S seeds can tell apart "
            "(gaps below it are ties).</p>"
        )
    out.append('<div class="grid2"><div>' + _fig_html(figs, "replicates", click=True) + "</div>")
    rows = []
    for i, c in enumerate(rep["configs"]):
        rows.append(
            [
                " ".join(_link(n) for n in c["trials"]),
                _params_html(c["params"]),
                str(c["seeds"]),
                _num(c["mean"]),
                _num(c["std"], 3),
                _num(c["gap"], 3),
                _num(c["effect"], 3),
                _num(c["mdd"], 3),
                "best"
                if i == 0
                else ("" if c["within_noise"] is None else ("tie" if c["within_noise"] else "")),
            ]
        )
    out.append(
        "<div>"
        + _table(
            [
                "trials",
                "searched values",
                "seeds",
                f"mean {rep['metric']}",
                "std",
                "gap to best",
                "effect (σ)",
                "MDD",
                "within noise",
            ],
            rows,
            num=(2, 3, 4, 5, 6, 7),
        )
        + "</div></div>"
    )
    return "".join(out)


def _trials_html(data: dict) -> str:
    if not data["trials"]:
        return _why("the study has no trials")
    names = [o["name"] for o in data["objectives"]]
    prefix, headline, _ = diversity_names()
    extra = [
        k
        for k in ("gain_headline", *(prefix + h for h in headline))
        if any(k in r["metrics"] for r in data["trials"]) and k not in names
    ]
    rows, ids = [], []
    for r in data["trials"]:
        vals = r["values"] or [None] * len(names)
        cells = [str(r["number"]), r["state"].lower()]
        for m, v in zip(names, vals, strict=True):
            sd = r["metrics"].get(f"{m}_std")
            cells.append(
                _num(v) + (f" ± {_num(sd, 2)}" if sd is not None and v is not None else "")
            )
        cells += [_num(r["metrics"].get(k)) for k in extra]
        cells += [
            _params_html(r["params"]),
            _e(json.dumps(r["seeds"]) if r["seeds"] else ""),
            _num(r["duration_s"], 3),
            _e(r["fingerprint"] or ""),
        ]
        rows.append(cells)
        ids.append(f"trial-{r['number']}")
    head = [
        "trial",
        "state",
        *names,
        *extra,
        "searched values",
        "seeds",
        "seconds",
        "dataset fingerprint",
    ]
    return _table(head, rows, ids=ids, num=tuple(range(2, 2 + len(names) + len(extra))))


def _failures_html(data: dict) -> str:
    fs = data["failures"]
    if not fs:
        return "<p>None: every finished trial completed.</p>"
    rows = []
    for f in fs:
        retry = f"retry of {_link(int(f['retry_of']))}" if f["retry_of"] is not None else ""
        if f["retried_by"]:
            retry += " retried as " + " ".join(_link(n) for n in f["retried_by"])
        rows.append(
            [
                _link(f["number"]),
                f["state"].lower(),
                _e(f["error_type"] or ""),
                _e(f["reason"][:600]),
                retry.strip(),
                _params_html(f["params"]),
                _num(f["duration_s"], 3),
                _e(f["worker"] or ""),
            ]
        )
    return _table(
        ["trial", "state", "type", "reason", "retry", "searched values", "seconds", "worker"],
        rows,
        num=(6,),
    )


def _json_for_page(data: dict) -> str:
    slim = dict(data)
    slim["samples"] = {
        **data["samples"],
        "rows": [{k: v for k, v in r.items() if k != "images"} for r in data["samples"]["rows"]],
    }
    text = json.dumps(slim, default=str, separators=(",", ":"))
    return text.replace("</", "<\\/")


def _calibration_html(section: dict | None) -> tuple[str, str] | None:
    if not section:
        return None
    body = str(section.get("html") or "")
    for i, fig in enumerate(section.get("figures") or []):
        body += _fig_html({f"calibration-{i}": fig}, f"calibration-{i}")
    return str(section.get("title") or "Calibration"), body


_NAV = {
    "summary": "Summary",
    "samples": "Samples",
    "diversity": "Diversity",
    "importances": "Importances",
    "parallel": "Parallel coordinates",
    "slice": "Slice & contour",
    "pareto": "Pareto front",
    "history": "History",
    "learning": "Learning curves",
    "replicates": "Replicates",
    "calibration": "Calibration",
    "trials": "All trials",
    "failures": "Failed & pruned",
}


def render_html(data: dict, figs: Mapping[str, Any], *, calibration: dict | None = None) -> str:
    """The report as one HTML page: plotly.js inlined once, figures as plotly JSON, thumbnails
    as PNG data URLs. Opens offline in any browser."""
    from plotly.offline import get_plotlyjs

    s = data["summary"]
    objectives = data["objectives"]
    multi = len(objectives) > 1
    sections = [
        ("summary", "Study summary", _summary_html(data)),
        ("samples", "Samples of the best, worst and a spread of trials", _samples_html(data)),
        ("diversity", "Diversity vs downstream accuracy", _diversity_html(data, figs)),
    ]
    imp = [k for k in figs if k.startswith("importances")]
    imp_body = "".join(_fig_html(figs, k) for k in imp)
    if not data["importances"]["reason"]:
        imp_body = (
            '<p class="small">fANOVA importances (seeded) of the resolved searched values '
            "for each objective.</p>" + imp_body
        )
    sections.append(("importances", "Parameter importances", imp_body))
    sections.append(("parallel", "Parallel coordinates", _fig_html(figs, "parallel")))
    sections.append(
        (
            "slice",
            "Slice and contour plots",
            _fig_html(figs, "slice")
            + (
                ""
                if figs.get("contour") == figs.get("slice")
                else _fig_html(figs, "contour", height=650)
            ),
        )
    )
    if multi:
        sections.append(("pareto", "Pareto front", _fig_html(figs, "pareto")))
    else:
        sections.append(("history", "Optimisation history", _fig_html(figs, "history")))
    sections.append(("learning", "Learning curves", _fig_html(figs, "learning", click=True)))
    sections.append(
        ("replicates", "Replicate spread and effect sizes", _replicates_html(data, figs))
    )
    cal = _calibration_html(calibration)
    if cal:
        sections.append(("calibration", cal[0], cal[1]))
    sections.append(("trials", "All trials", _trials_html(data)))
    sections.append(("failures", "Failed and pruned trials", _failures_html(data)))
    nav = "".join(f'<a href="#{sid}">{_e(_NAV.get(sid, t))}</a>' for sid, t, _ in sections)
    body = "".join(_section(*sec) for sec in sections)
    c = s["counts"]
    sub = (f"{_e(s['question'])}<br>" if s["question"] else "") + _e(
        f"{s['n_trials']} trials: {c['COMPLETE']} complete, {c['PRUNED']} pruned, "
        f"{c['FAIL']} failed" + (f", {c['RUNNING']} running" if c["RUNNING"] else "")
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>sweep report: {_e(s['name'])}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<script>{_RECORDER}</script><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        '<div id="errors" class="err"></div>'
        f"<header><h1>sweep report: {_e(s['name'])}</h1><p>{sub}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main>"
        f'<script type="application/json" id="sweep-report-data">{_json_for_page(data)}</script>'
        f"<script>{_FINISH}</script></body></html>\n"
    )


# ============================================================================ the command
def calibration_section(study) -> dict | None:
    """The calibration section (issue 7) when the study carries ``sweep:calibration`` and
    :mod:`sweep.calibrate` offers ``report_section(study)``; None otherwise."""
    if not study.user_attrs.get(ATTR_CALIBRATION):
        return None
    import importlib

    try:
        calibrate = importlib.import_module("sweep.calibrate")
    except ImportError:
        return None
    fn = getattr(calibrate, "report_section", None)
    if fn is None:
        return None
    try:
        return fn(study)
    except Exception as e:  # the report still comes out; the section says what went wrong
        return {
            "title": "Calibration",
            "html": _why(f"the calibration section failed: {type(e).__name__}: {e}"),
        }


def dashboard_figures(figs: Mapping[str, Any]) -> dict[str, Any]:
    """The figures worth attaching for optuna-dashboard (which draws the Optuna ones itself):
    the diversity scatters, replicate spread and learning curves; ``{graph id: figure}``."""
    out = {}
    for name, fig in figs.items():
        if isinstance(fig, str):
            continue
        if name.startswith("diversity:") or name in ("replicates", "learning"):
            out["sweep-" + re.sub(r"[^A-Za-z0-9_.-]", "-", name.replace(":", "-"))] = fig
    return out


def dashboard_note(data: dict, path: str | None) -> str:
    """A Markdown note for the dashboard: the question, counts, best trials and the diversity
    correlations, and where the full report is."""
    s = data["summary"]
    c = s["counts"]
    lines = [f"## sweep report: {s['name']}", ""]
    if s["question"]:
        lines += [f"**Question:** {s['question']}", ""]
    lines += [
        f"{s['n_trials']} trials: {c['COMPLETE']} complete, {c['PRUNED']} pruned, "
        f"{c['FAIL']} failed.",
        "",
    ]
    rows = {r["number"]: r for r in data["trials"]}
    if data["best"]:
        lines += ["| best trial | values | searched values |", "|---|---|---|"]
        for n in data["best"][:5]:
            r = rows[n]
            vals = ", ".join(f"{v:.4g}" for v in r["values"])
            lines.append(f"| {n} | {vals} | {_params_text(r['params'])} |")
        lines.append("")
    dv = data["diversity"]
    if dv["correlations"]:
        lines += [
            f"| diversity metric | Spearman ρ with {dv['y']} [95% CI] | partial ρ |",
            "|---|---|---|",
        ]
        for corr in dv["correlations"]:
            p = corr["partial"] or {}
            lines.append(
                f"| {corr['x']} | {_fmt_ci(corr['rho'], corr['ci'])} | "
                f"{_fmt_ci(p.get('rho'), p.get('ci'))} |"
            )
        lines.append("")
    elif dv["reason"]:
        lines += [f"Diversity: {dv['reason']}.", ""]
    if path:
        lines.append(f"Full report (samples, every plot, failures): `{path}`")
    return "\n".join(lines) + "\n"


def attach_to_dashboard(study, data: dict, figs: Mapping[str, Any], path: str | None) -> list:
    """Store the key figures and a note in the study for optuna-dashboard (overwrites the
    previous report's figures: stable graph ids). Returns the graph ids."""
    from optuna_dashboard import save_note, save_plotly_graph_object

    ids = []
    for gid, fig in dashboard_figures(figs).items():
        save_plotly_graph_object(study, fig, graph_object_id=gid)
        ids.append(gid)
    save_note(study, dashboard_note(data, path))
    return ids


def _check_storage(storage: str | None) -> str:
    """The storage URL; a file storage that does not exist is an error (not a new file)."""
    from sweep.space import default_storage, mask_url, normalize_storage

    url = normalize_storage(storage) if storage else default_storage("")
    for scheme in ("sqlite:///", "journal://"):
        if url.startswith(scheme):
            path = Path(url[len(scheme) :])
            if not path.is_file():
                raise SweepError(
                    f"no study database at {mask_url(url)}; name one with "
                    "--storage (a .db or .log file, or a URL)"
                )
    return url


def _check_out(out: str | None, study: str) -> Path:
    """Where the report goes: a file, or STUDY.html in a directory; must be writable."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", study).strip(".") or "study"
    path = Path(out) if out else Path("runs") / "reports" / f"{safe}.html"
    if path.is_dir() or (out and out.endswith(os.sep)):
        path = path / f"{safe}.html"
    if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise SweepError(f"-o {out}: cannot write {path} (not a writable file)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SweepError(
            f"-o {out or path}: cannot write under {parent} (not a writable "
            "directory); choose another -o"
        )
    return path


def write_report(
    name: str,
    storage: str | None = None,
    out: str | None = None,
    *,
    dashboard: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """``sweep report``: build the report of study ``name``, write it (atomically) and, unless
    ``dashboard=False``, attach the key figures and a note to the study."""
    from sweep.engine import load_study_by_name

    url = _check_storage(storage)
    study = load_study_by_name(name, url)
    path = _check_out(out, name)
    data = report_data(study, seed=seed)
    figs = figures(data)
    page = render_html(data, figs, calibration=calibration_section(study))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SweepError(f"cannot write {path}: {e.strerror or e}") from None
    ids = attach_to_dashboard(study, data, figs, str(path.resolve())) if dashboard else []
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "dashboard": ids,
        "counts": data["summary"]["counts"],
    }
