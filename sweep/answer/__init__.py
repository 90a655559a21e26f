"""A study's answer to its question: a verdict from the stored per-seed values, not a ranking.

:func:`compute_answer` reads only the trials (their per-seed values, arms and configuration
keys, :mod:`sweep.record`) and the engine's confirmation plan; :func:`answer_of_study` does it for
a stored study; :func:`answer_line` says it in one sentence. The package: ``data`` (the per-seed
values, the plan), ``build`` (the verdict), ``line`` (the sentence); the statistics are
:mod:`sweep.paired`'s.

**Data.** Every COMPLETE trial of every arm gives ``{configuration: {seed: value}}`` (the
configuration is ``config_key``, else the canonical JSON of ``params``; a single-seed trial
without per-seed values counts with its metric; a (configuration, seed) stored twice is
averaged) and the scratch value of each seed (``scratch_<metric>``, ``scratch_headline`` for
the headline).

**Verdict rules** (``VERDICTS``; ``reason`` is one sentence). Every comparison is paired: the
differences of two configurations on the seeds both ran (:mod:`sweep.paired`, the one module
of the statistics). ``delta`` is the study's smallest effect that matters (``smallest_effect``
in the study file, in the metric's units; :data:`sweep.paired.DEFAULT_SMALLEST_EFFECT`).

1. ``insufficient_data`` when no complete trial has values, when there is no confirmation plan
   and no 2 seeds that the published configuration shares with every other (without a plan,
   such shared seeds, from ``seeds:`` replicates or a design of references, stand in for it:
   every other configuration a candidate, one look), when no published configuration exists
   (then only the best against scratch is compared, and the reason says so), when fewer than
   2 common confirmation seeds carry the published configuration and a candidate.
2. The confirmed best is the candidate with the best mean on the common seeds; its paired
   differences to the published configuration give a t interval at the level
   ``1 - alpha / (k * looks)``: Bonferroni over the k candidates it was picked from and over
   every look the confirmation's schedule allows (the plan's ``max_looks``, else inferred from
   its ``looks``, ``seeds`` and ``max_seeds``), so the error rates hold whenever the race stops.
3. That interval decides (:func:`sweep.paired.decide`): ``difference`` (clear of 0, reaching
   past +-delta; ``winner`` says which way: ``candidate``, or ``published`` when the published
   one is better), ``negligible`` (clear of 0, inside +-delta), ``equivalent`` (holding 0,
   inside +-delta: "nothing beats the published by delta or more"), else ``undecided`` with
   ``seeds_to_decide``, the paired seeds whose adjusted MDD is delta. Equivalent and negligible
   also need every other candidate's interval below +delta on the better side.
4. ``sd_paired`` (pooled SD of the candidates' paired differences to the published one),
   ``correlation`` (of an arm with the published one), ``sigma_seed`` (a single arm's SD),
   ``mdd`` = 2.8 * sd_paired / sqrt(S) and ``mdd_adjusted`` at the adjusted level. The omnibus
   F test (seeds as blocks: the within-seed contrasts) is reported beside them, not a gate.

**The result** (JSON-ready; numbers that are undefined are None):

* ``verdict``, ``reason``, ``question``, ``metric``, ``direction``, ``smallest_effect``,
  ``winner`` (``candidate`` | ``published`` | None), ``published_beats`` (``every`` candidate |
  the ``best`` | None); ``decided``: more seeds cannot change the verdict (difference,
  equivalent, negligible, or no published configuration): the confirmation's race stops;
* ``best``: ``{config, label, params, trial, mean, seeds}`` (``seeds``: how many seeds the mean
  is over; ``trial``: the configuration's first trial); ``published``: the same or None;
  ``scratch``: ``{mean, seeds}`` on the same seeds;
* ``best_vs_published``: ``{diff, ci, level, ci95, n, sd, p, p_adjusted}`` (``ci`` at the
  adjusted ``level``, ``ci95`` unadjusted; ``p_adjusted`` Holm over the candidates times the
  looks) or None; ``best_vs_scratch``, ``published_vs_scratch``: the same at ``1 - alpha``,
  without ``p_adjusted``;
* ``candidates``: ``[{config, label, mean, diff, ci, p, p_adjusted, n}]`` against the published;
* ``omnibus``: ``{test, f, df, p, icc, configs, seeds}`` (``icc``: the intraclass correlation
  ICC(1), the share of the variance between configurations, clipped at 0);
* ``sigma_seed`` (pooled SD between seeds of one configuration), ``sd_paired``,
  ``correlation``, ``mdd``, ``mdd_adjusted`` (the same at the adjusted level),
  ``seeds_to_decide`` (undecided only), ``confirm``: ``{seeds, k, looks, alpha_adjusted}``;
* ``exact_repeats``: ``{trials, fraction}`` (complete trials whose configuration AND seeds an
  earlier trial already ran); ``arms``: complete trials per arm; ``trials``: complete trials;
* ``warnings`` and ``next`` (what more budget would resolve, the ``sweep generate`` command);
  :func:`answer_of_study` puts first a warning per searched axis that is barely visible at the
  training size (the study's stored ``sweep:visibility``, :mod:`sweep.visibility`; its rows
  are ``visibility``) and one when the pre-training did not learn.

Imports: numpy, scipy (lazily), :mod:`sweep.record`, :mod:`sweep.values`, :mod:`sweep.paired`
and this package's modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sweep import record
from sweep.answer.build import Context
from sweep.answer.data import VERDICTS, collect, read_plan
from sweep.answer.line import answer_line
from sweep.paired import DEFAULT_SMALLEST_EFFECT
from sweep.values import jsonable

__all__ = ["VERDICTS", "answer_line", "answer_of_study", "compute_answer", "provisional"]


def compute_answer(
    records: Sequence[record.TrialRecord],
    *,
    metric: str = record.HEADLINE,
    direction: str = "maximize",
    question: str = "",
    confirm: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
    study: str = "STUDY",
    smallest_effect: float = DEFAULT_SMALLEST_EFFECT,
) -> dict[str, Any]:
    """The study's answer from its trials (see the module doc for the rules and the result);
    ``study`` names the study in the ``sweep generate`` command; ``smallest_effect`` is delta."""
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be maximize or minimize, got {direction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if not smallest_effect > 0:
        raise ValueError(f"smallest_effect must be positive, got {smallest_effect!r}")
    data = collect(records, metric)
    ctx = Context(
        data, read_plan(confirm), metric, direction, question, alpha, study, float(smallest_effect)
    )
    return jsonable(ctx.build(), nan_to_none=True)


def answer_of_study(study: Any) -> dict[str, Any]:
    """:func:`compute_answer` of a stored study: its objective (``objectives[0]`` of the
    resolved study file), question, smallest effect and confirmation plan; adds ``study``."""
    a = study.user_attrs
    cfg = a.get(record.STUDY_CONFIG) or {}
    objectives = cfg.get("objectives") or []
    metric, direction = record.HEADLINE, "maximize"
    if objectives:
        o = objectives[0]
        metric, direction = (o["metric"], o["direction"]) if isinstance(o, Mapping) else o
    question = a.get(record.STUDY_QUESTION) or cfg.get("question") or ""
    delta = cfg.get("smallest_effect") or DEFAULT_SMALLEST_EFFECT
    out = compute_answer(
        record.records(study),
        metric=metric,
        direction=direction,
        question=question,
        confirm=a.get(record.STUDY_CONFIRM),
        study=study.study_name,
        smallest_effect=delta,
    )
    if len(objectives) > 1:
        out["warnings"].append(
            f"the study has {len(objectives)} objectives; the answer reads the first ({metric})"
        )
    if (learned := learning_warning(record.records(study))) is not None:
        out["warnings"].insert(0, learned)
    from sweep.visibility import visibility_warnings

    rows = a.get(record.STUDY_VISIBILITY) or []
    out["warnings"][:0] = visibility_warnings(rows if isinstance(rows, list) else [])
    if rows:
        out["visibility"] = rows
        out["next"][:0] = visibility_next(rows, cfg)
    if isinstance(noise := a.get(record.STUDY_NOISE), Mapping) and noise:  # sweep noise's budget
        from sweep.noise import next_step  # (the report draws ``noise``)

        out["noise"] = dict(noise)
        if (step := next_step(noise)) is not None:
            out["next"].append(step)
    if (why := provisional(a.get(record.STUDY_CONFIRM))) is not None:
        out["provisional"] = why
    return {"study": study.study_name, **out}


def provisional(plan: Any) -> str | None:
    """Why an answer is not final yet (its confirmation runs, or was stopped before it ended),
    or None: every output (``status``, ``--json``, the report, the dashboard's note) says so."""
    if not isinstance(plan, Mapping):
        return None
    n = len(plan.get("seeds") or ())
    if plan.get("status") == "running":
        return f"the confirmation is running, {n} paired seeds so far"
    if plan.get("status") == "stopped":
        return f"the confirmation stopped at {n} paired seeds; sweep resume continues it"
    return None


def visibility_next(rows: Sequence[Mapping[str, Any]], cfg: Mapping[str, Any]) -> list[str]:
    """The next step for an invisible axis: the training size from which it is visible, as
    ``--set`` overrides that keep the token count when the patch size allows."""
    recipe = (cfg.get("proxy") or {}).get("resolved") or {}
    size, patch = recipe.get("img_size"), recipe.get("patch_size")
    out = []
    for r in rows:
        target = r.get("visible_from")
        if r.get("visible") is not False or not target:
            continue
        sets = f"--set recipe.img_size={target}"
        if isinstance(size, int) and isinstance(patch, int) and size % patch == 0:
            grid = size // patch
            if target % grid == 0:
                sets += (
                    f" --set recipe.patch_size={target // grid} (the same {grid}x{grid} tokens)"
                )
        out.append(f"train at {target} px or more, where {r['name']} is visible: {sets}")
    return out


#: a final pre-training loss above this fraction of chance (ln classes): it barely learned
LEARNED_FRACTION = 0.9


def learning_warning(records: Any) -> str | None:
    """A warning when the pre-training did not learn: the mean final ``pretrain_loss`` of the
    complete trials above :data:`LEARNED_FRACTION` of chance, ln(classes) of their dataset."""
    import math

    losses, chances = [], []
    for r in records:
        loss, ds = r.metric(record.PRETRAIN_LOSS), r.dataset or {}
        classes = ds.get("classes") if isinstance(ds, Mapping) else None
        if r.complete and loss is not None and isinstance(classes, int) and classes > 1:
            losses.append(loss)
            chances.append(math.log(classes))
    if not losses:
        return None
    loss, chance = sum(losses) / len(losses), sum(chances) / len(chances)
    if loss <= LEARNED_FRACTION * chance:
        return None
    return (
        f"the pre-training barely learned: its final loss {loss:.2f} is "
        f"{100 * loss / chance:.0f}% of chance (ln classes = {chance:.2f}), so the trials "
        "rank datasets the model hardly saw; train longer or on fewer, larger classes"
    )
