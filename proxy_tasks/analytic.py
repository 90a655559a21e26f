"""``analytic``: a free objective for testing and benchmarking the sweep engine.

No rendering and no training: the metrics are a smooth, deterministic function of the generator
parameters (how far each numeric parameter sits from its published value, normalised by its
domain), so a study over it runs in milliseconds per trial and has a known optimum (the
published configuration, ``headline`` = 100). It exercises everything around a trial: the search
space, samplers, storages, workers, attributes, pruning reports and failures.

Imports: :mod:`proxy_tasks.spec`, :mod:`sweep.dataset` (lazily), :mod:`sweep.errors`.
"""

from __future__ import annotations

import time

from proxy_tasks.spec import COMPLETE, FAILED, PRUNED, TrialResult, TrialSpec, is_prune
from sweep.errors import SweepError


class AnalyticProxy:
    """A closed-form objective of the generator parameters (see the module docstring)."""

    name = "analytic"

    def run(self, spec: TrialSpec, report=None) -> TrialResult:
        from sweep.dataset import Dataset, DatasetSpec

        t0 = time.perf_counter()
        try:
            ds = Dataset(DatasetSpec(spec.generator, classes=1, instances=1, image_size=64,
                                     seed=spec.data_seed, params=dict(spec.params)))  # fmt: skip
        except SweepError as e:
            return TrialResult(FAILED, error_type="config", message=str(e))
        gen = ds.generator
        penalty = 0.0
        for p in gen.schema:
            lo = p.low if p.low is not None else 0.0
            hi = p.high if p.high is not None else lo + 1.0
            width = max(hi - lo, 1e-12)
            value, default = gen.params[p.name], p.default
            pairs = zip(value, default, strict=True) if p.is_range else [(value, default)]
            penalty += sum(((v - d) / width) ** 2 for v, d in pairs)
        headline = 100.0 / (1.0 + 100.0 * penalty)
        if report is not None:
            try:
                report("pretrain_loss", 1, 1.0 - headline / 100.0)
            except Exception as e:
                if not is_prune(e):
                    raise
                return TrialResult(PRUNED, message=str(e) or "pruned")
        metrics = {"headline": headline, "gain_headline": headline - 50.0,
                   "penalty": penalty, "time_total_s": time.perf_counter() - t0}  # fmt: skip
        info = {"dataset": {"fingerprint": ds.fingerprint, **ds.config()}}
        return TrialResult(COMPLETE, metrics=metrics, info=info)
