"""Sample thumbnails: the datasets of the best, the worst and a spread of trials, drawn again.

:func:`dataset_spec` (:func:`sweep.dataset.spec_from_trial`, shared with ``sweep generate
--from``) recovers the :class:`~sweep.dataset.DatasetSpec` a trial pre-trained on (its ``dataset``
attribute, or for older trials a spec rebuilt from the stored config and its ``param:*`` values)
and checks it against the trial's recorded fingerprint, so a thumbnail is never of another
dataset; :func:`thumbnails` draws instance 0 of a few classes as PNG.

Imports: the standard library, numpy, OpenCV (lazily), :mod:`sweep.dataset` and
:mod:`reports.study`.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, TypedDict

import numpy as np

from reports.study import Objective, TrialRow, ranked
from sweep.dataset import Dataset, spec_from_trial

#: the trial's dataset spec and why not (:func:`sweep.dataset.spec_from_trial`)
dataset_spec = spec_from_trial

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
