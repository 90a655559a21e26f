"""Building a study's answer: the verdict, its one-sentence reason, the comparisons, the
warnings and the next steps (the rules are in the package docstring, :mod:`sweep.answer`).

Imports: numpy, :mod:`sweep.record`, :mod:`sweep.paired`, :mod:`sweep.values` and this
package's ``data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sweep import record
from sweep.answer.data import (
    DECIDED,
    DIFFERENCE,
    EQUIVALENT,
    INSUFFICIENT,
    NEGLIGIBLE,
    UNDECIDED,
    Plan,
    StudyData,
    label,
    mean_of,
    scratch_metric,
)
from sweep.paired import (
    anova,
    arm_noise,
    decide,
    decimals,
    holm,
    interval_text,
    mdd,
    paired,
    power_factor,
    seeds_for_mdd,
)


class Context:
    """One answer being built: the data, the plan, the options, warnings and next steps."""

    def __init__(
        self,
        data: StudyData,
        plan: Plan | None,
        metric: str,
        direction: str,
        question: str,
        alpha: float,
        study: str,
        delta: float,
    ) -> None:
        self.data, self.plan, self.metric, self.direction = data, plan, metric, direction
        self.alpha, self.study, self.delta = alpha, study, delta
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.warnings: list[str] = []
        self.next: list[str] = []
        fraction = data.repeats / data.complete if data.complete else 0.0
        self.out: dict[str, Any] = {
            "verdict": None,
            "reason": None,
            "decided": False,
            "question": question or "",
            "metric": metric,
            "direction": direction,
            "winner": None,
            "published_beats": None,
            "best": None,
            "published": None,
            "scratch": None,
            "best_vs_published": None,
            "best_vs_scratch": None,
            "published_vs_scratch": None,
            "candidates": [],
            "omnibus": None,
            "sigma_seed": None,
            "sd_paired": None,
            "correlation": None,
            "mdd": None,
            "mdd_adjusted": None,
            "smallest_effect": delta,
            "seeds_to_decide": None,
            "confirm": None,
            "exact_repeats": {"trials": data.repeats, "fraction": fraction},
            "arms": dict(sorted(data.arm_counts.items())),
            "trials": data.complete,
        }
        self.fmt = 1

    # -- small helpers
    def num(self, x: float, signed: bool = False) -> str:
        return f"{x:+.{self.fmt}f}" if signed else f"{x:.{self.fmt}f}"

    def ci(self, c: Sequence[float]) -> str:
        return interval_text(c, self.fmt)

    def label(self, key: str) -> str:
        trials = self.data.trials.get(key)
        return label(trials[0].params, key) if trials else key

    def describe(self, key: str, seeds: Sequence[int] | None = None) -> dict[str, Any]:
        """``{config, label, params, trial, mean, seeds}`` of a configuration."""
        vals = self.data.values.get(key, {})
        used = [vals[s] for s in (seeds if seeds is not None else vals) if s in vals]
        trials = self.data.trials.get(key) or []
        return {
            "config": key,
            "label": self.label(key),
            "params": dict(trials[0].params) if trials else {},
            "trial": trials[0].number if trials else None,
            "mean": mean_of(used) if used else None,
            "seeds": len(used),
        }

    def design(self) -> dict[str, dict[int, float]]:
        """The configurations of the searched space (every arm but the references)."""
        ref = record.ARM_REFERENCE
        arms = self.data.arms
        return {
            k: v
            for k, v in self.data.values.items()
            if not all(a.startswith(ref) for a in arms.get(k, ()))
        }

    def best_of(self, keys: Sequence[str], seeds: Sequence[int] | None) -> str:
        """The key with the best mean (over ``seeds`` when given)."""

        def score(k: str) -> float:
            v = self.data.values[k]
            return self.sign * mean_of([v[s] for s in (seeds or v) if s in v])

        return max(keys, key=score)

    def published_key(self) -> str | None:
        if self.plan is not None and self.plan.published:
            return self.plan.published
        for key, arms in self.data.arms.items():
            if record.ARM_PUBLISHED in arms:
                return key
        return None

    def worse(self, ci: Sequence[float]) -> bool:
        """Whether an interval of a difference lies entirely on the worse side of 0."""
        return ci[1] < 0 if self.sign > 0 else ci[0] > 0

    def finish(self, verdict: str, reason: str, *, decided: bool = False) -> dict[str, Any]:
        best = self.out["best"]
        if best and best["trial"] is not None:
            self.next.append(f"sweep generate --from {self.study}:{best['trial']}")
        self.out.update(verdict=verdict, reason=reason, warnings=self.warnings, next=self.next)
        self.out["decided"] = decided or verdict in DECIDED
        return self.out

    # -- the answer
    def build(self) -> dict[str, Any]:
        d = self.data
        if not d.values:
            reason = f"no complete trial stored per-seed values of {self.metric}"
            return self.finish(INSUFFICIENT, reason)
        if d.repeats:
            self.warnings.append(
                f"{d.repeats} of {d.complete} complete trials "
                f"({100 * d.repeats / d.complete:.0f}%) were exact repeats (same configuration, "
                "same seeds): budget that bought nothing"
            )
        if not d.scratch:
            missing = scratch_metric(self.metric)
            self.warnings.append(f"no {missing} stored: no comparison with scratch")
        if self.plan is None:
            self.plan = self.shared_seeds_plan()
        if self.plan is None:
            return self.without_plan()
        return self.with_plan(self.plan)

    def shared_seeds_plan(self) -> Plan | None:
        """Without a confirmation, the seeds every configuration ran when the published one and
        at least one other share 2 or more (replicates: ``seeds: [0, 1, ...]``, a design of
        references): every other configuration is a candidate (no selection came first, so
        the Bonferroni split is over all of them), one look."""
        pub = self.published_key()
        vals = self.data.values
        if pub is None or pub not in vals:
            return None
        common = set(vals[pub])
        cands = [k for k in vals if k != pub and len(common & set(vals[k])) >= 2]
        for k in cands:
            common &= set(vals[k])
        if not cands or len(common) < 2:
            return None
        return Plan(
            seeds=sorted(common),
            candidates=cands,
            published=pub,
            max_seeds=None,
            looks=1,
            looks_assumed=False,
        )

    def set_noise(
        self,
        omnibus: dict[str, Any],
        seeds: float | None,
        alpha_adj: float,
        noise: dict[str, Any] | None = None,
    ) -> None:
        """The omnibus, sigma_seed, the paired noise (``noise``: :func:`sweep.paired.arm_noise`
        on the common seeds) and the paired MDDs; a warning when the seed noise drowns the
        search."""
        sigma = omnibus.pop("sigma")
        self.out.update(omnibus=omnibus, sigma_seed=sigma)
        if noise is not None:
            sd = noise["sd_paired"]
            self.out.update(
                sigma_seed=noise["sigma_seed"],
                sd_paired=sd,
                correlation=noise["correlation"],
                mdd=mdd(sd, seeds),
                mdd_adjusted=mdd(sd, seeds, power_factor(alpha_adj)),
            )
            sigma = noise["sigma_seed"]
        self.fmt = decimals(sigma)
        search = [mean_of(v) for v in self.data.search.values() if v]
        spread = float(np.std(search, ddof=1)) if len(search) >= 3 else None
        if sigma and spread is not None and sigma > spread:
            self.warnings.append(
                f"a seed's noise (sigma_seed {self.num(sigma)}) is larger than the spread of "
                f"the search ({self.num(spread)} between its configurations): the search's "
                "ranking is mostly noise; the confirmation's paired seeds decide"
            )

    def scratch(self, key: str, seeds: Sequence[int], name: str) -> None:
        """``name`` = the paired difference of ``key`` to scratch on ``seeds``."""
        sc = self.data.scratch
        cmp = paired(self.data.values[key], sc, seeds, 1 - self.alpha)
        self.out[name] = cmp
        if self.out["scratch"] is None:
            used = [sc[s] for s in seeds if s in sc]
            mean = mean_of(used) if used else None
            self.out["scratch"] = {"mean": mean, "seeds": len(used)}
        if cmp is not None and name == "best_vs_scratch" and self.worse(cmp["ci"]):
            self.warnings.append(
                "pre-training does not beat scratch: the best configuration is "
                f"{self.num(cmp['diff'], True)} points against it (95% CI {self.ci(cmp['ci'])})"
            )
        better = cmp is not None and (cmp["ci"][0] > 0 if self.sign > 0 else cmp["ci"][1] < 0)
        if cmp is not None and name == "published_vs_scratch" and not better:
            self.warnings.append(
                "the published configuration does not beat scratch on this proxy: "
                f"{self.num(cmp['diff'], True)} points (95% CI {self.ci(cmp['ci'])}); a proxy "
                "that cannot tell pre-training from none cannot rank pre-training data"
            )

    def without_plan(self) -> dict[str, Any]:
        design = self.design() or self.data.values
        omnibus = anova(design, None)
        self.set_noise(omnibus, omnibus["seeds"], self.alpha)
        multi = [k for k, v in design.items() if len(v) >= 2]
        best = self.best_of(multi or list(design), None)
        self.out["best"] = self.describe(best)
        self.scratch(best, sorted(self.data.values[best]), "best_vs_scratch")
        pub = self.published_key()
        if pub is not None and pub in self.data.values:
            self.out["published"] = self.describe(pub)
            self.scratch(pub, sorted(self.data.values[pub]), "published_vs_scratch")
        most = max(len(v) for v in design.values())
        self.next.append(
            "confirm: re-run the top 3 configurations and the published one on 3 or more "
            "common fresh seeds (a `confirm:` section), then compare them paired"
        )
        return self.finish(
            INSUFFICIENT,
            "no configuration was re-evaluated on common fresh seeds: the top of the table is "
            f"the luckiest of {len(design)} configurations on at most {most} seed(s) each",
        )

    def with_plan(self, plan: Plan) -> dict[str, Any]:
        vals, seeds = self.data.values, plan.seeds
        pub = self.published_key()
        cands = [c for c in plan.candidates if c != pub]
        k = max(1, len(cands))
        alpha_adj = self.alpha / (k * plan.looks)
        self.out["confirm"] = {
            "seeds": len(seeds),
            "k": k,
            "looks": plan.looks,
            "alpha_adjusted": alpha_adj,
        }
        if plan.looks_assumed:
            self.warnings.append(
                f"the plan does not say how many looks its schedule allows: {plan.looks} "
                f"assumed (from 2 seeds up to {plan.max_seeds})"
            )
        if pub is not None and pub in plan.candidates:
            self.warnings.append("the published configuration was among the candidates")

        def on_plan(c: str) -> int:
            return sum(s in vals.get(c, {}) for s in seeds)

        present = [c for c in cands if on_plan(c) >= 2]
        if len(present) < len(cands):
            self.warnings.append(
                f"{len(cands) - len(present)} of {len(cands)} candidates have values on fewer "
                "than 2 confirmation seeds"
            )
        if not present:
            self.next.append("run the confirmation: the candidates on the plan's seeds")
            reason = f"no candidate has values on 2 or more of the {len(seeds)} confirmation seeds"
            return self.finish(INSUFFICIENT, reason)
        if pub is None:
            return self.without_published(present, seeds, alpha_adj)
        self.out["published"] = self.describe(pub, seeds)
        if on_plan(pub) < 2:
            self.next.append("run the published configuration on the plan's seeds")
            return self.finish(
                INSUFFICIENT,
                f"the published configuration {self.label(pub)} has values on fewer than 2 "
                "confirmation seeds",
            )
        common = [s for s in seeds if s in vals[pub] and all(s in vals[c] for c in present)]
        if len(common) < 2:
            return self.finish(
                INSUFFICIENT,
                "fewer than 2 confirmation seeds carry every candidate and the published "
                "configuration",
            )
        return self.compare(pub, present, common, k, alpha_adj)

    def without_published(
        self, present: list[str], seeds: Sequence[int], alpha_adj: float
    ) -> dict[str, Any]:
        """No published configuration: the best against scratch only (insufficient data)."""
        vals = self.data.values
        common = [s for s in seeds if all(s in vals[c] for c in present)]
        best = self.best_of(present, common)
        self.out["best"] = self.describe(best, common)
        arms = {c: vals[c] for c in present}
        self.set_noise(anova(arms, common), len(common), alpha_adj, arm_noise(arms, None, common))
        self.scratch(best, common, "best_vs_scratch")
        cmp = self.out["best_vs_scratch"]
        vs = "not measured (no scratch values)"
        if cmp:
            vs = (
                f"{self.num(cmp['diff'], True)} points (95% CI {self.ci(cmp['ci'])}, "
                f"{cmp['n']} seeds)"
            )
        self.next.append("add the published configuration as a reference arm")
        return self.finish(
            INSUFFICIENT,
            "the space holds no published configuration to compare with, so only the best "
            f"against scratch: {vs}",
            decided=True,  # more seeds cannot supply a published arm
        )

    def compare(
        self, pub: str, present: list[str], common: list[int], k: int, alpha_adj: float
    ) -> dict[str, Any]:
        """The omnibus, the paired comparisons with the published one, and the verdict."""
        assert self.plan is not None
        vals, looks = self.data.values, self.plan.looks
        best = self.best_of(present, common)
        self.out["best"] = self.describe(best, common)
        self.out["published"] = self.describe(pub, common)
        arms = {c: vals[c] for c in [*present, pub]}
        self.set_noise(anova(arms, common), len(common), alpha_adj, arm_noise(arms, pub, common))
        cmps: dict[str, dict[str, Any]] = {}
        for c in present:
            cmp = paired(vals[c], vals[pub], common, 1 - alpha_adj)
            assert cmp is not None  # every candidate has every common seed
            cmps[c] = cmp
        adj = holm([cmps[c]["p"] for c in present], k)
        fields = ("diff", "ci", "p", "p_adjusted", "n")
        for c, p in zip(present, adj, strict=True):
            cmps[c]["p_adjusted"] = min(1.0, p * looks)
            row = {"config": c, "label": self.label(c), "mean": self.describe(c, common)["mean"]}
            self.out["candidates"].append({**row, **{f: cmps[c][f] for f in fields}})
        bvp = cmps[best]
        self.out["best_vs_published"] = bvp
        self.scratch(best, common, "best_vs_scratch")
        self.scratch(pub, common, "published_vs_scratch")
        return self.verdict(best, pub, bvp, k, alpha_adj)

    def verdict(
        self, best: str, pub: str, bvp: dict[str, Any], k: int, alpha_adj: float
    ) -> dict[str, Any]:
        """The decision of the confirmed best against the published configuration at the
        smallest effect that matters (:func:`sweep.paired.decide`; the package docstring)."""
        assert self.plan is not None
        delta, looks, n = self.delta, self.plan.looks, bvp["n"]
        self.fmt = decimals(self.out["sd_paired"] or self.out["sigma_seed"], bvp["diff"], delta)
        b, p = self.label(best), self.label(pub)
        level = f"{100 * bvp['level']:.1f}% CI {self.ci(bvp['ci'])}"
        adjusted = f"adjusted for {k} candidate(s)" + (f" x {looks} looks" if looks > 1 else "")
        shift, d = self.num(bvp["diff"], True), self.num(delta)
        where = f"({level}, {adjusted}, {n} paired seeds)"

        def better(ci: list[float]) -> tuple[float, float]:  # the interval, better side up
            lo, hi = ci if self.sign > 0 else (-ci[1], -ci[0])
            return lo, hi

        decision = decide(better(bvp["ci"]), delta)
        beats = [c["label"] for c in self.out["candidates"] if better(c["ci"])[1] >= delta]
        if decision in (EQUIVALENT, NEGLIGIBLE) and beats:
            decision = UNDECIDED  # the best is inside, another candidate may still beat it
        if decision == DIFFERENCE and self.sign * bvp["diff"] > 0:
            self.out["winner"] = "candidate"
            return self.finish(
                DIFFERENCE,
                f"{b} beats the published {p} by {shift} points "
                f"{where}: an interval clear of 0 that reaches the smallest "
                f"effect that matters ({d})",
            )
        if decision == DIFFERENCE:
            self.out["winner"] = "published"
            every = all(self.worse(c["ci"]) for c in self.out["candidates"])
            self.out["published_beats"] = "every" if every else "best"
            whom = "every candidate" if every else f"the confirmed best {b}"
            return self.finish(
                DIFFERENCE,
                f"the published {p} beats {whom}: the best, {b}, "
                f"is {shift} points from it {where}, an interval clear of 0 that "
                f"reaches the smallest effect that matters ({d})",
            )
        if decision == EQUIVALENT:
            return self.finish(
                EQUIVALENT,
                f"nothing beats the published {p} by {d} points or "
                f"more: the best, {b}, is {shift} points from it {where}, an "
                f"interval inside +-{d}",
            )
        if decision == NEGLIGIBLE:
            self.out["winner"] = "candidate" if self.sign * bvp["diff"] > 0 else "published"
            return self.finish(
                NEGLIGIBLE,
                f"{b} differs from the published {p} by {shift} "
                f"points {where}: real (clear of 0) but smaller than the "
                f"smallest effect that matters ({d})",
            )
        self.seeds_next(alpha_adj, n)
        why = (
            f"the candidate(s) {', '.join(beats)} may still beat it by {d} or more"
            if beats and better(bvp["ci"])[1] < delta
            else f"an interval that holds 0 and reaches past +-{d}"
        )
        return self.finish(
            UNDECIDED,
            f"the confirmed best {b} is {shift} points from the published {p} {where}: {why}",
        )

    def seeds_next(self, alpha_adj: float, s: int) -> None:
        """The paired seeds that would decide at the smallest effect, from the paired SD."""
        sd = self.out["sd_paired"]
        if not sd:
            return
        need = seeds_for_mdd(sd, self.delta, power_factor(alpha_adj))
        self.out["seeds_to_decide"] = need
        self.next.append(
            f"about {need} paired seeds per arm (now {s}) decide at the smallest effect that "
            f"matters ({self.num(self.delta)}): raise confirm.max_seeds and run sweep resume "
            f"(paired SD {self.num(sd)}, adjusted MDD now {self.num(self.out['mdd_adjusted'])})"
        )
