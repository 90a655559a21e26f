"""Sample thumbnails: the datasets of the best, the worst and a spread of trials, drawn again.

:func:`dataset_spec` recovers the :class:`~sweep.dataset.DatasetSpec` a trial pre-trained on (its
``dataset`` attribute, or for older trials a spec rebuilt from the stored config and its
``param:*`` values) and checks it against the trial's recorded fingerprint, so a thumbnail is
never of another dataset; :func:`thumbnails` draws instance 0 of a few classes as PNG.

Imports: the standard library, numpy, OpenCV (lazily), :mod:`sweep.dataset`, :mod:`sweep.errors`,
:mod:`sweep.record` and :mod:`reports.study`.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np

from reports.study import Objective, TrialRow, ranked
from sweep import record
from sweep.dataset import Dataset, DatasetSpec
from sweep.errors import SweepError

THUMB_PX = 96  # thumbnail size: the trial's classes drawn again at this size
THUMB_CLASSES = 6  # classes per selected trial (instance 0 of each)


class SampleRow(TypedDict):
    number: int
    rank: int
    of: int
    value: float
    params: dict[str, Any]
    images: list[dict[str, Any]]
    trained_px: int | None
    reason: str | None


class SamplesInfo(TypedDict):
    px: int
    rows: list[SampleRow]
    reason: str | None


def dataset_spec(
    trial_attrs: Mapping[str, Any], study_attrs: Mapping[str, Any]
) -> tuple[DatasetSpec | None, str | None]:
    """The :class:`DatasetSpec` a trial pre-trained on, and why not when it cannot be told.

    From the trial's ``dataset`` attribute; for studies made before it existed, rebuilt from
    the stored config and the trial's resolved values. Either way the spec's fingerprint must
    equal the one the trial recorded, so a thumbnail is never of another dataset."""
    want = trial_attrs.get(record.DATASET_FINGERPRINT)
    d = trial_attrs.get(record.DATASET)
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
            rebuilt = spec_from_config(trial_attrs, study_attrs)
            if rebuilt is None:
                return None, "the trial has no dataset attribute and the study no sweep config"
            spec = rebuilt
        got = Dataset(spec).fingerprint
    except (SweepError, KeyError, TypeError, ValueError) as e:
        return None, f"cannot rebuild the dataset: {e}"
    if want and got != want:
        return None, f"the rebuilt dataset's fingerprint {got} differs from the trial's {want}"
    return spec, None


def spec_from_config(
    trial_attrs: Mapping[str, Any], study_attrs: Mapping[str, Any]
) -> DatasetSpec | None:
    """The dataset of an older trial, from the study's ``sweep:config`` and its ``param:*``."""
    cfg = study_attrs.get(record.STUDY_CONFIG)
    if not cfg:
        return None
    params = dict(cfg["generator"].get("params") or {})
    recipe = dict(cfg["proxy"]["resolved"])
    for e in cfg.get("search") or []:
        v = trial_attrs.get(record.param_attr(e["name"]))
        for t in e.get("targets") or [e["name"]]:
            if t.startswith("recipe."):
                recipe[t[len("recipe.") :]] = v
            elif not t.startswith("proxy."):
                params[t] = v
    seeds = trial_attrs.get(record.SEEDS) or cfg.get("seeds") or [0]
    seed = cfg.get("data_seed")
    return DatasetSpec(
        cfg["generator"]["name"],
        classes=int(recipe["classes"]),
        instances=int(recipe["instances"]),
        image_size=int(recipe["img_size"]),
        seed=int(seed if seed is not None else seeds[0]),
        params=params,
    )


def png(img) -> str:
    """A greyscale image as base64 PNG."""
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
    trained = Dataset(spec)
    big = trained if spec.image_size == px else Dataset(dataclasses.replace(spec, image_size=px))
    picks = sorted(
        {round(c) for c in np.linspace(0, big.classes - 1, min(n_classes, big.classes))}
    )
    out = []
    for c in picks:
        entry = {"class": c, "png": png(big.render_class(c, instances=[0])[0])}
        if spec.image_size < px:
            entry["trained_png"] = png(trained.render_class(c, instances=[0])[0])
        out.append(entry)
    return out


def select(ranked_rows: list, k_best: int = 3, k_worst: int = 3, k_spread: int = 4) -> list:
    """``[(row, rank)]``: the best, the worst and a spread of ranks between them."""
    n = len(ranked_rows)
    if n <= k_best + k_worst + k_spread:
        return [(r, i + 1) for i, r in enumerate(ranked_rows)]
    middle = list(range(k_best, n - k_worst))
    spread = sorted(
        {middle[round(p)] for p in np.linspace(0, len(middle) - 1, k_spread + 2)[1:-1]}
    )
    picks = list(range(k_best)) + spread + list(range(n - k_worst, n))
    return [(ranked_rows[i], i + 1) for i in picks]


def samples(
    study, rows: list[TrialRow], objectives: list[Objective], enabled: bool
) -> SamplesInfo:
    """Thumbnails of the selected trials (ranked by the first objective)."""
    out: SamplesInfo = {"px": THUMB_PX, "rows": [], "reason": None}
    done = ranked(rows, objectives)
    if not done:
        out["reason"] = "no completed trials"
        return out
    if not enabled:
        out["reason"] = "thumbnails were not requested"
        return out
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    n = len(done)
    for r, rank in select(done):
        t = trials[r["number"]]
        entry: SampleRow = {
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
