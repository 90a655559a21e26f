"""``analytic``: a free objective with known noise and a known effect, for testing the engine
and measuring the error rates of a study's answer (:mod:`sweep.answer`).

No rendering and no training: the metrics are a smooth function of the generator parameters (how
far each numeric parameter sits from its optimum, normalised by its domain), so a study over it
runs in milliseconds per trial and has a known optimum. With the default options it is today's
deterministic function: the optimum is the published configuration, ``headline`` = 100 there.

Options (``TrialSpec.options``; anything else is a failed trial of ``error_type`` config):

* ``noise`` (default 0): SD of the Gaussian noise added to ``headline`` on each seed. The draw
  of a (configuration, seed) comes from ``Seeds(train_seed).rng("analytic", data_seed, C)``, C a
  hash of the resolved generator parameters: the same configuration on the same seed gives the
  same number, and any two (configuration, seed) pairs are independent.
* ``shared_noise`` (default 0): SD of a per-seed term shared by every configuration on that
  seed (a lucky seed lifts every arm, as a real pre-training's seed does): it cancels in the
  paired differences, so two arms correlate at ``shared^2 / (shared^2 + noise^2)`` and their
  paired difference has SD ``sqrt(2) * noise``.
* ``data_noise``, ``train_noise`` (default 0): SD of a term keyed by the data seed only
  (``Seeds(data_seed).rng("analytic", "data")``), resp. the training seed only, shared by every
  configuration: on a crossed design of data seeds x training seeds (``sweep noise``) they are
  the data seed's and the training seed's variance components of one arm, ``noise`` and
  ``shared_noise`` its interaction; of the four, only ``noise`` stays in a paired difference.
* ``effect`` (default 1.0): scale of the planted effect. ``headline = 100 - effect * (100 -
  f)``, f = 100 / (1 + 100 * penalty) today's function; ``effect: 0`` makes every
  configuration equal (a null study).
* ``optimum`` (default: the published values): generator parameter values where ``headline``
  peaks, so a configuration better than the published one exists (a planted positive effect).
* ``sleep_s`` (default 0): seconds each trial takes before it computes (the engine's tests kill,
  interrupt and time out trials mid-run without a real training).

The trial also reports ``scratch_headline`` (the model without pre-training on the same seed: a
constant 50 plus its own per-seed noise of SD ``noise``, the same for every configuration) and
``gain_headline`` = headline - scratch_headline.

Imports: :mod:`proxy_tasks.spec`, :mod:`sweep.dataset` (lazily), :mod:`sweep.errors`,
:mod:`sweep.record`, :mod:`sweep.seeding`, :mod:`sweep.values`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from proxy_tasks.spec import COMPLETE, FAILED, PRUNED, TrialResult, TrialSpec, is_prune
from sweep import record
from sweep.errors import SweepError, did_you_mean
from sweep.seeding import Seeds
from sweep.values import is_real, jsonable

#: the options and their defaults (see the module docstring)
OPTIONS: dict[str, Any] = {
    "noise": 0.0,
    "shared_noise": 0.0,
    "data_noise": 0.0,
    "train_noise": 0.0,
    "effect": 1.0,
    "optimum": {},
    "sleep_s": 0.0,
}
#: the scratch baseline's mean headline
SCRATCH = 50.0


def parse_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options with defaults filled in; :class:`SweepError` (one line) for a bad one."""
    if not isinstance(options, Mapping):
        raise SweepError(f"must be a mapping, got {type(options).__name__}", key="options")
    for name in options:
        if name not in OPTIONS:
            raise SweepError(
                f"unknown option of the analytic task{did_you_mean(str(name), OPTIONS)}; "
                f"choose among {', '.join(OPTIONS)}",
                key=f"options.{name}",
            )
    out = {**OPTIONS, **options}
    for name in ("noise", "shared_noise", "data_noise", "train_noise", "effect", "sleep_s"):
        v = out[name]
        if not is_real(v) or not math.isfinite(v) or v < 0:
            raise SweepError(f"must be a finite number >= 0, got {v!r}", key=f"options.{name}")
        out[name] = float(v)
    if not isinstance(out["optimum"], Mapping):
        raise SweepError("must map generator parameters to values", key="options.optimum")
    return out


def config_hash(params: Mapping[str, Any]) -> int:
    """A 64-bit key of resolved generator parameters (canonical JSON, blake2b)."""
    text = json.dumps(jsonable(dict(params)), sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def penalty(gen: Any, optimum: Mapping[str, Any]) -> float:
    """Squared distance of ``gen.params`` to ``optimum`` (resolved values), each numeric
    parameter normalised by its domain."""
    total = 0.0
    for p in gen.schema:
        lo = p.low if p.low is not None else 0.0
        hi = p.high if p.high is not None else lo + 1.0
        width = max(hi - lo, 1e-12)
        value, best = gen.params[p.name], optimum[p.name]
        pairs = zip(value, best, strict=True) if p.is_range else [(value, best)]
        total += sum(((v - d) / width) ** 2 for v, d in pairs)
    return total


def resolve_optimum(generator: str, gen: Any, optimum: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value at the peak: the published defaults, ``optimum`` over them."""
    if not optimum:
        return {p.name: p.default for p in gen.schema}
    from sweep.dataset import Dataset, DatasetSpec

    try:
        peak = Dataset(DatasetSpec(generator, classes=1, instances=1, params=dict(optimum)))
    except SweepError as e:
        raise SweepError(str(e), key="options.optimum") from None
    return dict(peak.generator.params)


def headline(pen: float, effect: float) -> float:
    """The noiseless headline of a configuration at ``pen`` (see the module docstring)."""
    base = 100.0 / (1.0 + 100.0 * pen)
    return base if effect == 1.0 else 100.0 - effect * (100.0 - base)


def seed_noise(spec: TrialSpec, sd: float, *keys: int | str) -> float:
    """``sd`` times a standard normal drawn for this trial's seeds and ``keys``."""
    if sd == 0.0:
        return 0.0
    rng = Seeds(spec.train_seed).rng("analytic", spec.data_seed, *keys)
    return sd * float(rng.standard_normal())


def keyed_noise(seed: int, sd: float, key: str) -> float:
    """``sd`` times a standard normal drawn for one seed alone (``data_noise``,
    ``train_noise``): the same for every configuration on that seed."""
    if sd == 0.0:
        return 0.0
    return sd * float(Seeds(seed).rng("analytic", key).standard_normal())


def analytic_dataset(spec: TrialSpec, profile: str = "cpu") -> Any:
    """The analytic task's dataset (:data:`proxy_tasks.spec.TASK_DATASETS`): one 64-pixel
    image of the configuration, drawn from the data seed (its fingerprint names what ran)."""
    from sweep.dataset import DatasetSpec

    return DatasetSpec(
        spec.generator,
        classes=1,
        instances=1,
        image_size=64,
        seed=spec.data_seed,
        params=dict(spec.params),
    )


class AnalyticProxy:
    """A closed-form objective of the generator parameters (see the module docstring)."""

    name = "analytic"

    def run(self, spec: TrialSpec, report=None) -> TrialResult:
        from sweep.dataset import Dataset

        t0 = time.perf_counter()
        try:
            opts = parse_options(spec.options)
            ds = Dataset(analytic_dataset(spec))
            gen = ds.generator
            optimum = resolve_optimum(spec.generator, gen, opts["optimum"])
        except SweepError as e:
            return TrialResult(FAILED, error_type="config", message=str(e))
        if opts["sleep_s"]:  # a trial that takes time, as a real one does (the engine's tests:
            time.sleep(opts["sleep_s"])  # kills, Ctrl-C and timeouts land mid-trial)
        pen = penalty(gen, optimum)
        value = headline(pen, opts["effect"])
        value += seed_noise(spec, opts["noise"], "headline", config_hash(gen.params))
        value += seed_noise(spec, opts["shared_noise"], "shared")
        value += keyed_noise(spec.data_seed, opts["data_noise"], "data")
        value += keyed_noise(spec.train_seed, opts["train_noise"], "train")
        scratch = SCRATCH + seed_noise(spec, opts["noise"], "scratch")
        if report is not None:
            try:
                report(record.PRETRAIN_LOSS, 1, 1.0 - value / 100.0)
            except Exception as e:
                if not is_prune(e):
                    raise
                return TrialResult(PRUNED, message=str(e) or "pruned")
        metrics = {
            record.HEADLINE: value,
            record.GAIN_HEADLINE: value - scratch,
            record.PENALTY: pen,
            record.SCRATCH_METRIC: scratch,
            record.TIME_TOTAL: time.perf_counter() - t0,
        }
        info = {record.DATASET: record.dataset_value(ds.fingerprint, ds.config())}
        return TrialResult(COMPLETE, metrics=metrics, info=info)
