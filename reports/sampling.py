"""What a figure draws of a large study: every point up to a cap, a seeded sample beyond it.

A browser cannot draw tens of thousands of points per figure comfortably, and a page that
embeds them all is tens of MB (issue 22: 110 MiB for 2,000 trials). So a figure of one point per
trial draws at most :data:`MAX_POINTS` of them (the learning curves :data:`MAX_CURVES` curves,
the replicate spread :data:`MAX_CONFIGS` configurations: the best, and every replicated one):
the points that must be there (the reference arms, the best trial, the record-setting trials of
the optimisation history: ``keep``) and a seeded random sample of the rest, the same every run
(``Seeds(seed).rng("report", "sample", key)``). The figure says so in its title
(:func:`note`: "10,000 trials; 2,000 drawn at random (seeded) shown"); what it summarises (a
correlation, a mean, the importances) is still computed on every trial.

Imports: the standard library and :mod:`sweep.seeding`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TypedDict

from sweep.seeding import Seeds

#: the most points a figure of one point per trial draws
MAX_POINTS = 2000
#: the most learning curves (trial x replicate) the learning-curve figure draws
MAX_CURVES = 300
#: the most configurations the replicate spread's figure and table show (the best first)
MAX_CONFIGS = 500


class Caps(TypedDict):
    points: int  # MAX_POINTS
    curves: int  # MAX_CURVES
    configs: int  # MAX_CONFIGS
    importance_trials: int  # reports.view.MAX_IMPORTANCE_TRIALS
    null_trials: int  # reports.view.MAX_NULL_TRIALS


def caps(**given: int) -> Caps:
    """The caps a report uses: the defaults of this module and :mod:`reports.view`, with
    ``given`` ones instead (a test's smaller caps)."""
    from reports.view import MAX_IMPORTANCE_TRIALS, MAX_NULL_TRIALS

    out: Caps = {
        "points": MAX_POINTS,
        "curves": MAX_CURVES,
        "configs": MAX_CONFIGS,
        "importance_trials": MAX_IMPORTANCE_TRIALS,
        "null_trials": MAX_NULL_TRIALS,
    }
    for k, v in given.items():
        if k not in out:
            raise KeyError(f"no cap named {k}; choose among {', '.join(out)}")
        out[k] = int(v)  # type: ignore[literal-required]
    return out


class Sampled(TypedDict):
    of: int  # the points there are
    shown: int  # the points drawn
    note: str | None  # what the figure says, when it draws fewer than there are


def pick(
    numbers: Sequence[int],
    cap: int,
    seed: int,
    key: str,
    keep: Iterable[int] = (),
) -> list[int]:
    """The trial numbers a figure draws, in their order in ``numbers``: all of them when there
    are at most ``cap``, else those in ``keep`` and a seeded random sample of the others, ``cap``
    in all (``keep`` alone when it holds more)."""
    if len(numbers) <= cap:
        return list(numbers)
    kept = set(keep) & set(numbers)
    rest = [n for n in numbers if n not in kept]
    k = max(0, min(len(rest), cap - len(kept)))
    rng = Seeds(seed).rng("report", "sample", key)
    chosen = kept | {rest[i] for i in rng.choice(len(rest), size=k, replace=False).tolist()}
    return [n for n in numbers if n in chosen]


def note(of: int, shown: int, what: str = "trials") -> str | None:
    """``"10,000 trials; 2,000 drawn at random (seeded) shown"``, or None when all are shown."""
    if shown >= of:
        return None
    return f"{of:,} {what}; {shown:,} drawn at random (seeded) shown"


def sampled(of: int, shown: int, what: str = "trials") -> Sampled:
    return {"of": of, "shown": shown, "note": note(of, shown, what)}


def subtitle(title: str, info: Sampled | None) -> str:
    """``title`` with the sample's note as a second line (plotly ``<sup>``), if any."""
    if not info or not info["note"]:
        return title
    return f"{title}<br><sup>{html.escape(info['note'])}</sup>"
