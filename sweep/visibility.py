"""Can the proxy see its searched axis? The axis's extremes rendered at the training size,
compared by the shape of their contours, against two seeds of one configuration.

A searched generator parameter is *visible* at a training size when datasets drawn at the two
ends of its range differ more than two datasets drawn at the same end with different seeds do.
The comparison uses a shape descriptor, not pixels: for each image, the ink's radial extent as a
function of the angle around the ink's centroid, r(theta), and the normalised power spectrum of
r(theta) over angular frequencies 1..32 (square-rooted), so a contour's lobes, spikes and
self-similar arms count and its position, thickness and brightness do not. Two sets of images
are compared by their energy distance (Szekely) between descriptors, and

    ratio = mean energy distance between the two ends (different seeds)
            / mean energy distance between the two seeds (same end).

A ratio of at least :data:`VISIBLE` (2) is *visible*. Measured on VisualAtom's frequency band
(ends [0, 1] and [19, 20], 96 classes x 4 images, seeds 1 and 2; generators v2, whose two ends
share their other draws), the ratio grows with the training size: 1.31 at 16 px, 2.13 at 32,
2.80 at 48, 4.07 at 64, 8.36 at 128 (seeds 3 and 4: 1.66, 4.83, 10.3, 14.1, 18.2; with 24
classes the ratio at 48 px ranged 1.6-3.9 over four seed pairs, hence 96 classes). Pixel
descriptors (mean spectra, pixel distances, a linear classifier's separability) stayed below 1
at every size up to 512 px, where the band is certainly drawn, so they cannot tell. The
descriptor suits generators whose images are shapes around a centre (VisualAtom, RCDB,
FractalDB, 1p-frac); for other axes (categorical parameters, recipe fields) nothing is measured.

:func:`study_visibility` measures every searched generator parameter of a resolved study
config (``sweep:config``); the engine stores the result on the study (``sweep:visibility``),
and the answer warns about each invisible axis.

Imports: numpy; :mod:`sweep.errors`, :mod:`sweep.dataset` (lazily).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sweep.errors import SweepError

#: the ratio from which an axis counts as visible at a training size
VISIBLE = 2.0
#: angular frequencies of the descriptor, 1..KMAX
KMAX = 32
#: angle bins of r(theta)
ANGLES = 128
#: sizes tried, in order, for the smallest at which an invisible axis becomes visible
SIZES = (16, 24, 32, 48, 64, 96, 128, 192, 256)
NUMERIC = ("int", "float", "int_range", "float_range")


def angular_spectra(images: np.ndarray) -> np.ndarray:
    """Descriptors of ``uint8 (n, S, S)`` images: ``(n, KMAX)``, the square root of the
    normalised angular power spectrum of each image's ink radius r(theta) about its centroid
    (an image without ink: zeros)."""
    x = np.asarray(images, dtype=np.float64)
    n, size, _ = x.shape
    yy, xx = np.indices((size, size), dtype=np.float64)
    out = np.zeros((n, KMAX))
    for i, im in enumerate(x):
        total = im.sum()
        if total <= 0:
            continue
        w = im / total
        cy, cx = (w * yy).sum(), (w * xx).sum()
        angle = np.arctan2(yy - cy, xx - cx) % (2 * np.pi)
        bins = (angle * (ANGLES / (2 * np.pi))).astype(np.int64).ravel() % ANGLES
        mass = np.bincount(bins, w.ravel(), minlength=ANGLES)
        moment = np.bincount(bins, (w * np.hypot(yy - cy, xx - cx)).ravel(), minlength=ANGLES)
        r = moment / np.maximum(mass, 1e-12)
        power = np.abs(np.fft.rfft(r - r.mean()))[1 : KMAX + 1] ** 2
        if len(power) < KMAX:
            power = np.pad(power, (0, KMAX - len(power)))
        out[i] = np.sqrt(power / max(power.sum(), 1e-300))
    return out


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Szekely's energy distance between two samples of descriptors (rows)."""

    def mean_dist(p: np.ndarray, q: np.ndarray) -> float:
        return float(np.mean(np.linalg.norm(p[:, None] - q[None], axis=-1)))

    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)


def _descriptors(generator, params, image_size, seed, classes, instances) -> np.ndarray:
    from sweep.dataset import Dataset, DatasetSpec

    ds = Dataset(
        DatasetSpec(
            generator,
            classes=classes,
            instances=instances,
            image_size=image_size,
            seed=seed,
            params=params,
        )
    )
    return angular_spectra(ds.arrays()[0])


def axis_visibility(
    generator: str,
    params: Mapping[str, Any],
    low: Mapping[str, Any],
    high: Mapping[str, Any],
    image_size: int,
    *,
    classes: int = 96,
    instances: int = 4,
    seeds: tuple[int, int] = (1, 2),
) -> dict[str, float]:
    """The ratio of the module doc for one axis: ``low`` and ``high`` are the generator
    parameters (on top of ``params``) at its two ends. ``{"ratio", "axis", "seeds"}``."""
    d = {
        (end, s): _descriptors(generator, {**params, **values}, image_size, s, classes, instances)
        for end, values in (("low", low), ("high", high))
        for s in seeds
    }
    s1, s2 = seeds
    # The ends on different seeds, as the noise term's: the two sides of the ratio then carry
    # the same sampling noise (the generators draw both ends of a range from common random
    # numbers, so the same seed would cancel most of it and understate the axis).
    axis = (
        energy_distance(d["low", s1], d["high", s2]) + energy_distance(d["low", s2], d["high", s1])
    ) / 2
    noise = (
        energy_distance(d["low", s1], d["low", s2]) + energy_distance(d["high", s1], d["high", s2])
    ) / 2
    return {"ratio": axis / max(noise, 1e-12), "axis": axis, "seeds": noise}


def axis_ends(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The generator parameters at the two ends of a resolved search entry (``sweep:config``'s
    ``search``): a range pair's narrowest bands at each end, a number's bounds; None for an
    entry that is not a numeric generator parameter."""
    targets = list(entry.get("targets") or [entry["name"]])
    if entry.get("type") not in NUMERIC or any("." in t for t in targets):
        return None  # categorical, or a recipe./proxy. target: no image axis to render
    lo, hi = entry["low"], entry["high"]
    if entry["type"].endswith("_range"):
        width = entry.get("min_width") or 0
        low_value: Any = [lo, lo + width]
        high_value: Any = [hi - width, hi]
    else:
        low_value, high_value = lo, hi
    return ({t: low_value for t in targets}, {t: high_value for t in targets})


def study_visibility(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every searched generator parameter of a resolved study config, measured at the training
    size (``proxy.resolved.img_size``): name, ends, ratio, ``visible``, and for an invisible
    axis the smallest size of :data:`SIZES` at which it is visible (None above them); an end
    the generator cannot draw gives ``visible`` None and its ``error``."""
    proxy = config.get("proxy") or {}
    if proxy.get("task") != "vit":
        return []  # a task that trains on no images (analytic): nothing to look at
    recipe = proxy.get("resolved") or {}
    size = recipe.get("img_size")
    gen = config.get("generator") or {}
    if not isinstance(size, int) or not gen.get("name"):
        return []
    params = dict(gen.get("params") or {})
    out = []
    for entry in config.get("search") or []:
        ends = axis_ends(entry)
        if ends is None:
            continue
        low, high = ends
        row: dict[str, Any] = {
            "name": entry["name"],
            "image_size": size,
            "low": next(iter(low.values())),
            "high": next(iter(high.values())),
        }
        try:
            m = axis_visibility(gen["name"], params, low, high, size)
            row.update(m, visible=m["ratio"] >= VISIBLE)
            if not row["visible"]:
                row["visible_from"] = next(
                    (
                        s
                        for s in SIZES
                        if s > size
                        and axis_visibility(gen["name"], params, low, high, s)["ratio"] >= VISIBLE
                    ),
                    None,
                )
        except SweepError as e:  # an end the generator cannot draw (its trials fail too)
            row.update(visible=None, error=str(e))
        out.append(row)
    return out


def visibility_warnings(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One warning per invisible axis of :func:`study_visibility`'s rows."""
    out = []
    for r in rows:
        if r.get("visible") is not False:
            continue
        where = (
            f"it becomes visible from {r['visible_from']} px"
            if r.get("visible_from")
            else f"it stays invisible up to {SIZES[-1]} px"
        )
        out.append(
            f"the searched axis {r['name']} is barely visible at the training size "
            f"{r['image_size']} px: datasets at its two ends ({r['low']} and {r['high']}) "
            f"differ by {r['ratio']:.2f} times the difference between two seeds of one "
            f"configuration (at least {VISIBLE:g} needed; contour shape spectra); {where}: "
            "the proxy does not see the axis's shapes at this size, so a decision on it comes "
            "from other image statistics (ink, texture) and may not transfer to full-size "
            "pre-training"
        )
    return out
