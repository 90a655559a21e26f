"""Sample thumbnails: the datasets of the best, the worst and a spread of trials, drawn again;
in a study of families, of each family's best trial, one row per family.

:func:`dataset_spec` (:func:`sweep.trial.dataset_of`, shared with ``sweep generate
--from``) recovers the :class:`~sweep.dataset.DatasetSpec` a trial pre-trained on (its ``dataset``
attribute, or for older trials a spec rebuilt from the study's stored snapshot and its record)
and checks it against the trial's recorded fingerprint, so a thumbnail is never of another
dataset; :func:`thumbnails` draws instance 0 of a few classes as PNG.

Which trials: :func:`select` (the best, the worst and a spread of ranks) in a study of one
generator. A study that searches the generator itself (a categorical whose target is
``generator``, search_spaces/families.yaml) gets one row per family instead (:func:`by_family`),
so that no family is left out however the trials rank: its best completed trial of any arm
(search, published, reference, confirmation), drawn again; when that one cannot be drawn, its
next best (up to :data:`FAMILY_TRIES` trials); a family with no completed trial says why.

Imports: the standard library, numpy, OpenCV (lazily), :mod:`sweep.dataset`, :mod:`sweep.record`,
:mod:`sweep.space` (a constant) and :mod:`reports.study`.
"""

from __future__ import annotations

import base64
import dataclasses
from collections import Counter
from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np

from reports.study import Objective, TrialRow, ranked
from sweep import record
from sweep.dataset import Dataset
from sweep.space import GENERATOR_TARGET
from sweep.trial import dataset_of

#: the trial's dataset spec and why not (:func:`sweep.trial.dataset_of`)
dataset_spec = dataset_of

THUMB_PX = 96  # thumbnail size: the trial's classes drawn again at this size
THUMB_CLASSES = 6  # classes per selected trial (instance 0 of each)
FAMILY_TRIES = 3  # a family study: trials of one family tried, best first, until one draws


class SampleRow(TypedDict):
    number: int | None  # None: a family with no completed trial
    rank: int | None
    of: int
    value: float | None
    params: dict[str, Any]
    arm: str | None
    images: list[dict[str, Any]]
    trained_px: int | None
    reason: str | None
    family: str | None  # a family study: the row's family (generator); else None
    family_trials: int  # a family study: its completed trials; else 0
    note: str | None  # a family study: why the drawn trial is not the family's best


class SamplesInfo(TypedDict):
    px: int
    rows: list[SampleRow]
    reason: str | None
    family: str | None  # the searched parameter that picks the generator; None: one generator


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


# ----------------------------------------------------------------------------- families
def family_search(study_attrs: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """``(parameter, choices)`` of the searched parameter that picks the generator (target
    ``generator``) in the study's stored config; None in a study of one generator."""
    cfg = study_attrs.get(record.STUDY_CONFIG) or {}
    for e in cfg.get("search") or []:
        if GENERATOR_TARGET in (e.get("targets") or ()):
            return str(e["name"]), [str(c) for c in e.get("choices") or []]
    return None


def family_of(row: TrialRow, param: str) -> str | None:
    """The family a trial ran (its value of ``param``); None when it has none."""
    v = row["params"].get(param)
    return None if v is None else str(v)


def by_family(
    rows: list[TrialRow], done: list[TrialRow], param: str, choices: list[str]
) -> list[tuple[str, list[TrialRow], str | None]]:
    """``[(family, its completed trials best first, why none)]``: every family of ``choices``
    and any other a trial ran, the families with a completed trial first (best family first),
    then the others in the order of ``choices``. ``done`` is ``rows``' completed trials ranked
    (:func:`reports.study.ranked`)."""
    names = [*choices, *(f for r in rows if (f := family_of(r, param)) is not None)]
    mine: dict[str, list[TrialRow]] = {f: [] for f in dict.fromkeys(names)}
    for r in done:
        if (f := family_of(r, param)) is not None:
            mine[f].append(r)
    first = {r["number"]: i for i, r in enumerate(done)}
    order = sorted((f for f in mine if mine[f]), key=lambda f: first[mine[f][0]["number"]])
    out: list[tuple[str, list[TrialRow], str | None]] = [(f, mine[f], None) for f in order]
    for f in mine:
        if mine[f]:
            continue
        states = Counter(
            r["state"].lower()
            for r in rows
            if family_of(r, param) == f and r["number"] not in first
        )
        why = (
            "no completed trial: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            if states
            else "not evaluated: no trial of this family ran"
        )
        out.append((f, [], why))
    return out


# ----------------------------------------------------------------------------- rows
def _row(r: TrialRow, rank: int, n: int) -> SampleRow:
    value = r["values"][0] if r["values"] else None
    return {
        "number": r["number"],
        "rank": rank,
        "of": n,
        "value": value,
        "params": r["params"],
        "arm": r["arm"],
        "images": [],
        "trained_px": None,
        "reason": None,
        "family": None,
        "family_trials": 0,
        "note": None,
    }


def _draw(entry: SampleRow, trial, study) -> SampleRow:
    """``entry`` with the thumbnails of ``trial``'s dataset, or the reason there are none."""
    spec, why = dataset_spec(trial.user_attrs, study.user_attrs)
    if spec is None:
        entry["reason"] = why
        return entry
    entry["trained_px"] = spec.image_size
    try:
        entry["images"] = thumbnails(spec)
    except Exception as e:  # a generator that cannot draw at this size, say
        entry["reason"] = f"re-rendering failed: {type(e).__name__}: {e}"
    return entry


def _family_row(
    family: str,
    mine: list[TrialRow],
    why: str | None,
    trials: dict,
    rank: dict[int, int],
    n: int,
    study,
) -> SampleRow:
    """The row of ``family``: its best trial drawn again, else its next best that draws."""
    if not mine:
        return {
            "number": None,
            "rank": None,
            "of": n,
            "value": None,
            "params": {},
            "arm": None,
            "images": [],
            "trained_px": None,
            "reason": why,
            "family": family,
            "family_trials": 0,
            "note": None,
        }
    tried: list[SampleRow] = []
    for r in mine[:FAMILY_TRIES]:
        entry = _draw(_row(r, rank[r["number"]], n), trials[r["number"]], study)
        entry["family"], entry["family_trials"] = family, len(mine)
        if not entry["reason"]:
            if tried:
                b = tried[0]
                entry["note"] = (
                    f"its best trial {b['number']} could not be drawn again ({b['reason']})"
                )
            return entry
        tried.append(entry)
    if len(tried) > 1:
        tried[0]["note"] = f"nor could its next {len(tried) - 1} best trials"
    return tried[0]


def samples(
    study, rows: list[TrialRow], objectives: list[Objective], enabled: bool
) -> SamplesInfo:
    """Thumbnails of the selected trials (ranked by the first objective); in a study of
    families, of each family's best trial (:func:`by_family`)."""
    fam = family_search(study.user_attrs)
    out: SamplesInfo = {
        "px": THUMB_PX,
        "rows": [],
        "reason": None,
        "family": fam[0] if fam else None,
    }
    done = ranked(rows, objectives)
    if not done:
        out["reason"] = "no completed trials"
        return out
    if not enabled:
        out["reason"] = "thumbnails were not requested"
        return out
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    n = len(done)
    if fam is None:
        out["rows"] = [
            _draw(_row(r, rank, n), trials[r["number"]], study) for r, rank in select(done)
        ]
        return out
    rank = {r["number"]: i + 1 for i, r in enumerate(done)}
    out["rows"] = [
        _family_row(f, mine, why, trials, rank, n, study)
        for f, mine, why in by_family(rows, done, *fam)
    ]
    return out
