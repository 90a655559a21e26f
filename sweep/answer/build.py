"""Building a study's answer: the verdict, its one-sentence reason, the comparisons, the
warnings and the next steps (the rules are in the package docstring, :mod:`sweep.answer`).

Imports: numpy, :mod:`sweep.record`, :mod:`sweep.values` and this package's ``data`` and
``statistics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sweep import record
from sweep.answer.data import (
    EFFECT,
    INSUFFICIENT,
    NO_EFFECT,
    Plan,
    StudyData,
    label,
    mean_of,
    scratch_metric,
)
from sweep.answer.statistics import anova, decimals, holm, mdd, paired, power_factor, seeds_needed


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
    ) -> None:
        self.data, self.plan, self.metric, self.direction = data, plan, metric, direction
        self.alpha, self.study = alpha, study
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.warnings: list[str] = []
        self.next: list[str] = []
        fraction = data.repeats / data.complete if data.complete else 0.0
        self.out: dict[str, Any] = {
            "verdict": None, "reason": None, "decided": False, "question": question or "",
            "metric": metric, "direction": direction, "winner": None, "published_beats": None,
            "best": None, "published": None, "scratch": None, "best_vs_published": None,
            "best_vs_scratch": None, "published_vs_scratch": None, "candidates": [],
            "omnibus": None, "sigma_seed": None, "mdd": None, "mdd_adjusted": None,
            "confirm": None, "exact_repeats": {"trials": data.repeats, "fraction": fraction},
            "arms": dict(sorted(data.arm_counts.items())), "trials": data.complete,
        }  # fmt: skip
        self.fmt = 1

    # -- small helpers
    def num(self, x: float, signed: bool = False) -> str:
        return f"{x:+.{self.fmt}f}" if signed else f"{x:.{self.fmt}f}"

    def ci(self, c: Sequence[float]) -> str:
        return f"[{self.num(c[0])}, {self.num(c[1])}]"

    def label(self, key: str) -> str:
        trials = self.data.trials.get(key)
        return label(trials[0].params, key) if trials else key

    def describe(self, key: str, seeds: Sequence[int] | None = None) -> dict[str, Any]:
        """``{config, label, params, trial, mean, seeds}`` of a configuration."""
        vals = self.data.values.get(key, {})
        used = [vals[s] for s in (seeds if seeds is not None else vals) if s in vals]
        trials = self.data.trials.get(key) or []
        return {
            "config": key, "label": self.label(key),
            "params": dict(trials[0].params) if trials else {},
            "trial": trials[0].number if trials else None,
            "mean": mean_of(used) if used else None, "seeds": len(used),
        }  # fmt: skip

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
        self.out["decided"] = decided or verdict == EFFECT
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
            return self.without_plan()
        return self.with_plan(self.plan)

    def set_noise(self, omnibus: dict[str, Any], seeds: float | None, alpha_adj: float) -> None:
        """The omnibus, sigma_seed and the MDDs; a warning when the seed noise drowns the
        search."""
        sigma = omnibus.pop("sigma")
        self.out.update(omnibus=omnibus, sigma_seed=sigma, mdd=mdd(sigma, seeds))
        self.out["mdd_adjusted"] = mdd(sigma, seeds, power_factor(alpha_adj))
        self.fmt = decimals(sigma)
        search = [mean_of(v) for v in self.data.search.values() if v]
        spread = float(np.std(search, ddof=1)) if len(search) >= 3 else None
        if sigma and spread is not None and sigma > spread:
            self.warnings.append(
                f"a seed's noise (sigma_seed {self.num(sigma)}) is larger than the spread of "
                f"the search ({self.num(spread)} between its configurations): its ranking is "
                "mostly noise"
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
        better = cmp is not None and (
            cmp["ci"][0] > 0 if self.sign > 0 else cmp["ci"][1] < 0
        )  # fmt: skip
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
            "seeds": len(seeds), "k": k, "looks": plan.looks, "alpha_adjusted": alpha_adj,
        }  # fmt: skip
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
        self.set_noise(anova({c: vals[c] for c in present}, common), len(common), alpha_adj)
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
        omnibus = anova({c: vals[c] for c in [*present, pub]}, common)
        self.set_noise(omnibus, len(common), alpha_adj)
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
        """The verdict of the comparisons (rules 2 and 3 of the package docstring)."""
        assert self.plan is not None
        om, sigma, m = self.out["omnibus"], self.out["sigma_seed"], self.out["mdd"]
        looks = self.plan.looks
        self.fmt = decimals(sigma, bvp["diff"])
        ties = f"differences below {self.num(m)} points are ties for this proxy" if m else ""
        b, p, n = self.label(best), self.label(pub), bvp["n"]
        level = f"{100 * bvp['level']:.1f}% CI {self.ci(bvp['ci'])}"
        adjusted = f"adjusted for {k} candidate(s)" + (f" x {looks} looks" if looks > 1 else "")
        shift = self.num(bvp["diff"], True)
        if om["p"] is None or om["p"] >= self.alpha:
            self.seeds_next(bvp["diff"], sigma, n)
            return self.finish(
                NO_EFFECT,
                f"the configurations do not differ beyond the seed noise on {n} fresh seeds "
                f"(omnibus F = {om['f']:.2f}, p = {om['p']:.2g}); {ties}",
            )
        lo, hi = bvp["ci"]
        if lo <= 0 <= hi:
            self.seeds_next(bvp["diff"], sigma, n)
            return self.finish(
                NO_EFFECT,
                f"the confirmed best {b} differs from the published {p} by {shift} points "
                f"({level}, {adjusted}, {n} fresh seeds), an interval that includes 0; {ties}",
            )
        if self.sign * bvp["diff"] > 0:
            self.out["winner"] = "candidate"
            return self.finish(
                EFFECT,
                f"{b} beats the published {p} by {shift} points on {n} fresh seeds "
                f"({level}, {adjusted})",
            )
        self.out["winner"] = "published"
        every = all(self.worse(c["ci"]) for c in self.out["candidates"])
        self.out["published_beats"] = "every" if every else "best"
        whom = "every candidate" if every else f"the confirmed best {b}"
        return self.finish(
            EFFECT,
            f"the published {p} beats {whom}: the best, {b}, is {shift} points from it on "
            f"{n} fresh seeds ({level}, {adjusted})",
        )

    def seeds_next(self, diff: float, sigma: float | None, s: int) -> None:
        """What more seeds or a higher fidelity would resolve."""
        if not sigma:
            return
        alpha_adj = self.out["confirm"]["alpha_adjusted"]
        need = seeds_needed(sigma, diff, power_factor(alpha_adj))
        gap = self.num(abs(diff))
        if need is not None and need <= 1000:
            self.next.append(
                f"about {need} confirmation seeds per arm (now {s}) would bring the adjusted MDD "
                f"(now {self.num(self.out['mdd_adjusted'])}) below the observed difference of "
                f"{gap} points"
            )
        else:
            self.next.append(
                f"the observed difference ({gap} points) is too small to resolve with more "
                "seeds alone"
            )
        self.next.append(
            "a higher fidelity level (a longer pre-training, a larger downstream test set) "
            f"lowers sigma_seed, now {self.num(sigma)} points"
        )
