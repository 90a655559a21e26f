"""Simulated studies on the analytic task: the error rates and the power of the answer.

One simulated study follows the engine's rules with the ``analytic`` proxy task's own ``run``
(a known landscape, per-seed Gaussian noise, and a per-seed term shared by every configuration,
so two arms on one seed are correlated as real paired trials are):

* the search: ``n_search`` distinct frequency bands of [0, 20] on one seed each, the published
  band [0, 20] and the planted optimum (a reference arm: a study file's ``references:``);
* the confirmation: the ``top`` best of those (by their one search value) and the published
  band on common fresh seeds, ``rounds(first, cap)`` (3, 6, 12, 24), the answer looked at after
  each round (:func:`sweep.answer.compute_answer` with the plan and its looks) and the race
  stopped once it is decided; ``smallest_effect`` = ``delta``.

A scenario is the true difference ``true_diff`` of the planted optimum over the published band
(0: a null study, every band equal); the truth of the confirmed best is known without noise,
so each verdict is scored against it (:func:`score`).

It runs a proxy task, so it sits in the running layer (docs/architecture.md), above the answer
it measures: :mod:`sweep.answer` reads trial records only.

Imports: numpy, :mod:`proxy_tasks.analytic` and :mod:`proxy_tasks.spec` (lazily),
:mod:`sweep.answer`, :mod:`sweep.record`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sweep import record
from sweep.answer import compute_answer
from sweep.answer.data import DIFFERENCE, EQUIVALENT, NEGLIGIBLE, UNDECIDED, rounds
from sweep.seeding import Seeds

#: the freq band over [0, 20] (min width 1): 210 configurations; the published one is [0, 20]
SPACE = [(lo, hi) for lo in range(21) for hi in range(lo + 1, 21)]
PUB = (0, 20)
#: where the planted optimum sits (a band a search can find)
OPTIMUM = (6, 15)


@dataclass(frozen=True)
class Design:
    """A simulated study's design (see the module docstring)."""

    delta: float = 1.0  # the smallest effect that matters
    sd_paired: float = 1.0  # the SD of a paired difference of two arms on one seed
    correlation: float = 0.8  # of two arms on one seed
    n_search: int = 16
    top: int = 2
    first: int = 3
    cap: int = 24
    alpha: float = 0.05

    @property
    def noise(self) -> float:
        """The analytic task's own per-(configuration, seed) SD: sd_paired / sqrt(2)."""
        return self.sd_paired / 2**0.5

    @property
    def shared_noise(self) -> float:
        """The per-seed SD shared by every arm that gives ``correlation``."""
        r = self.correlation
        return self.noise * (r / (1 - r)) ** 0.5 if r > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "sd_paired": self.sd_paired,
            "correlation": self.correlation,
            "n_search": self.n_search,
            "top": self.top,
            "rounds": rounds(self.first, self.cap),
            "alpha": self.alpha,
        }


def _key(c: Sequence[int]) -> str:
    return json.dumps({"freq": list(c)}, sort_keys=True, separators=(",", ":"))


class _Task:
    """The analytic task at one scenario: its options and noiseless values."""

    def __init__(self, design: Design, true_diff: float) -> None:
        from proxy_tasks.analytic import AnalyticProxy

        self.task = AnalyticProxy()
        peak = {"freq1": list(OPTIMUM), "freq2": list(OPTIMUM)}
        self.options: dict[str, Any] = {"noise": design.noise, "shared_noise": design.shared_noise}
        if true_diff == 0:
            self.options["effect"] = 0.0
        else:  # effect scales the published band's deficit to the optimum to true_diff
            deficit = 100.0 - self._run(PUB, 0, {"optimum": peak})
            self.options.update(effect=true_diff / deficit, optimum=peak)
        quiet = {k: v for k, v in self.options.items() if "noise" not in k}
        self.truth = {c: self._run(c, 0, quiet) for c in [*SPACE]}

    def _run(self, c: Sequence[int], seed: int, options: dict[str, Any]) -> float:
        from proxy_tasks.spec import COMPLETE, TrialSpec

        band = list(c)
        res = self.task.run(
            TrialSpec(
                task="analytic",
                params={"freq1": band, "freq2": band},
                data_seed=seed,
                train_seed=seed,
                options=options,
            )
        )
        assert res.status == COMPLETE, res.message
        return float(res.metrics[record.HEADLINE])

    def record(self, n: int, c: Sequence[int], seed: int, arm: str) -> record.TrialRecord:
        v = self._run(c, seed, self.options)
        ps = {str(seed): {record.HEADLINE: v, record.SCRATCH_METRIC: 50.0}}
        attrs = {
            record.PER_SEED: ps,
            record.ARM: arm,
            record.SEEDS: [seed],
            record.HEADLINE: v,
            record.CONFIG_KEY: _key(c),
        }
        return record.TrialRecord(
            number=n,
            state="COMPLETE",
            values=(v,),
            params={"freq": list(c)},
            metrics={record.HEADLINE: v},
            attrs=attrs,
        )


def simulate(design: Design, true_diff: float, i: int, task: _Task | None = None) -> dict:
    """One study (module docstring): ``{verdict, winner, true_diff, seeds, trials}``, the true
    difference being the confirmed best's over the published band (noiseless)."""
    task = task or _Task(design, true_diff)
    rng = Seeds(2026).rng("simulated-study", i)
    base = 100_000 * (i + 1)  # the study's seeds: the search's, then fresh ones
    picks = [SPACE[j] for j in rng.choice(len(SPACE), design.n_search, replace=False)]
    recs = [task.record(n, c, base, record.ARM_SEARCH) for n, c in enumerate(picks)]
    recs.append(task.record(len(recs), PUB, base, record.ARM_PUBLISHED))
    recs.append(task.record(len(recs), OPTIMUM, base, record.ARM_REFERENCE))
    band = {r.config_key: tuple(r.params["freq"]) for r in recs}
    ranked = sorted(
        (r for r in recs if r.config_key != _key(PUB)), key=lambda r: -r.metrics[record.HEADLINE]
    )
    cands: list[str] = []
    for r in ranked:
        if r.config_key not in cands:
            cands.append(str(r.config_key))
    cands = cands[: design.top]
    seeds: list[int] = []
    answer: dict = {}
    sched = rounds(design.first, design.cap)
    for look, n_seeds in enumerate(sched, 1):
        new = [base + s for s in range(len(seeds) + 1, n_seeds + 1)]
        for c in [*cands, _key(PUB)]:
            recs += [task.record(len(recs), band[c], s, record.ARM_CONFIRM) for s in new]
        seeds += new
        plan = {
            "seeds": seeds,
            "candidates": cands,
            "published": _key(PUB),
            "top": design.top,
            "max_seeds": design.cap,
            "looks": look,
        }
        answer = compute_answer(
            recs, confirm=plan, study="sim", alpha=design.alpha, smallest_effect=design.delta
        )
        if answer["decided"]:
            break
    best = (answer.get("best") or {}).get("config")
    truth = task.truth[band[best]] - task.truth[PUB] if best else None
    return {
        "verdict": answer["verdict"],
        "winner": answer.get("winner"),
        "true_diff": truth,
        "seeds": len(seeds),
        "trials": len(recs),
    }


def score(studies: Sequence[dict], delta: float) -> dict[str, Any]:
    """Rates over simulated studies: ``false_difference`` (a difference claimed where the
    confirmed best's true difference is 0), ``false_equivalence`` (equivalence or negligible
    claimed where it is 2 delta or more), ``power`` (a difference the right way where it is
    delta or more), each with its count of studies; the verdicts' shares; mean seeds."""
    n = len(studies)

    def rate(hit, where) -> dict[str, Any]:
        pool = [s for s in studies if where(s)]
        return {
            "rate": (sum(hit(s) for s in pool) / len(pool)) if pool else None,
            "studies": len(pool),
        }

    def t(s):
        return s["true_diff"] or 0.0

    out = {
        "false_difference": rate(lambda s: s["verdict"] == DIFFERENCE, lambda s: t(s) == 0),
        "false_equivalence": rate(
            lambda s: s["verdict"] in (EQUIVALENT, NEGLIGIBLE),
            lambda s: abs(t(s)) >= 2 * delta - 1e-9,
        ),
        "power": rate(
            lambda s: s["verdict"] == DIFFERENCE and (s["winner"] == "candidate") == (t(s) > 0),
            lambda s: abs(t(s)) >= delta - 1e-9,
        ),
        "verdicts": {
            v: sum(s["verdict"] == v for s in studies) / n
            for v in (DIFFERENCE, EQUIVALENT, NEGLIGIBLE, UNDECIDED)
        },
        "mean_seeds": sum(s["seeds"] for s in studies) / n,
        "studies": n,
    }
    return out


def scenario(design: Design, true_diff: float, studies: int, offset: int = 0) -> dict[str, Any]:
    """``studies`` simulated studies of one scenario and their :func:`score`."""
    task = _Task(design, true_diff)
    runs = [simulate(design, true_diff, offset + i, task) for i in range(studies)]
    return {"true_diff": true_diff, **score(runs, design.delta)}
