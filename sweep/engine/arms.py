"""The arms of a study next to its search, and replicates instead of exact repeats.

* **Arms.** At launch, a study enqueues once the published configuration of its searched
  parameters (``sweep:arm`` = ``published``; :meth:`sweep.study_config.StudyConfig.published`,
  only when the search can take it) and each of the file's ``references`` (``reference:<name>``).
  Each is one trial of the search budget (``budget.trials`` counts them), run like any search
  trial: the study's seeds, the same attributes. The model without pre-training comes free on
  every trial: ``scratch_headline``, on the same seed.
* **Replicates.** When the sampler suggests a configuration (its ``sweep:config_key``) that a
  COMPLETE, RUNNING or PRUNED trial already evaluated, the trial runs it again on NEW seeds
  instead of repeating it: it claims the smallest replicate number ``k`` that no such trial of
  that configuration holds (``sweep:replicate``) and runs :func:`replicate_seeds` of ``k``:
  each of the study's seeds plus ``k`` times :data:`REPLICATE_STRIDE` (``k = 0``: the study's
  own seeds). The confirmation's seeds (:mod:`sweep.engine.confirm`) are drawn apart from all
  of these. A local worker (and a Ray actor) of a SQLite storage claims under the pop lock
  (:class:`sweep.storage.PopLock`), held until the claim is written, so two workers never
  claim the same ``k``; on PostgreSQL and journal storages two workers suggesting the same
  configuration in the same instant may both claim it (a rare race, accepted: the pair then
  runs the same seeds once more, and :func:`exact_repeats` counts it).

Imports: the standard library, Optuna (lazily) and :mod:`sweep.record`.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sweep import record

#: replicate ``k`` of a configuration runs each study seed ``s`` as ``s + k * REPLICATE_STRIDE``
#: (distinct from every study seed below the stride, and between replicates)
REPLICATE_STRIDE = 1_000_000
#: the states of a trial that has evaluated (or is evaluating) its configuration
EVALUATED = ("COMPLETE", "RUNNING", "PRUNED")


def replicate_seeds(seeds: Sequence[int], k: int) -> list[int]:
    """The seeds of replicate ``k`` (see the module docstring)."""
    return [int(s) + int(k) * REPLICATE_STRIDE for s in seeds]


def trial_config_key(t: Any) -> str | None:
    """The configuration key of a trial: stored, or made from its ``param:*`` values (a trial
    of an older sweep); None before its values are drawn."""
    key = t.user_attrs.get(record.CONFIG_KEY)
    if key is None:
        params = record.resolved_params(t.user_attrs)
        key = record.config_key(params) if params else None
    return key


def claim_replicate(study: Any, number: int, key: str, prefer: int | None = None) -> int:
    """The replicate number trial ``number`` of configuration ``key`` takes: ``prefer`` (a
    retry's) when free, else the smallest that no other evaluated search-like trial of that
    configuration holds (fixed trials, the confirmation's, run their own seeds)."""
    from optuna.trial import TrialState

    states = tuple(TrialState[s] for s in EVALUATED)
    taken = set()
    for t in study.get_trials(deepcopy=False, states=states):
        if t.number == number or record.FIXED in t.user_attrs:
            continue
        if trial_config_key(t) == key:
            taken.add(int(t.user_attrs.get(record.REPLICATE) or 0))
    if prefer is not None and prefer not in taken:
        return int(prefer)
    k = 0
    while k in taken:
        k += 1
    return k


def exact_repeats(trials: Iterable[Any]) -> int:
    """How many finished trials ran a configuration on seeds another finished trial already ran
    (the same key and the same seeds): budget spent on nothing new."""
    seen: Counter = Counter()
    for t in trials:
        if t.state.name in ("COMPLETE", "PRUNED") and (key := trial_config_key(t)) is not None:
            seen[(key, tuple(t.user_attrs.get(record.SEEDS) or ()))] += 1
    return sum(n - 1 for n in seen.values())


def enqueue_arms(study: Any, spec: Any, profile: str, room: int, *, quiet: bool = True) -> int:
    """Enqueue the published configuration and the file's references that the study has no
    trial of yet, ``room`` at most (they are trials of the search budget); returns how many.
    Says on stderr what the published arm is, unless ``quiet``."""
    arms = {record.arm_of(t.user_attrs) for t in study.get_trials(deepcopy=False)}
    published, why = spec.published(profile)
    wanted = [(record.ARM_PUBLISHED, published)] if published is not None else []
    wanted += [(record.ARM_REFERENCE + r.name, r) for r in spec.references]
    if not quiet and published is None:
        print(f"sweep: published configuration: not evaluated ({why})", file=sys.stderr)
    n = 0
    for arm, ref in wanted:
        if arm in arms or n >= room:
            continue
        study.enqueue_trial(dict(ref.raw), user_attrs={record.ARM: arm}, skip_if_exists=False)
        n += 1
        if not quiet:
            values = ", ".join(f"{k}={v}" for k, v in ref.values.items())
            print(
                f"sweep: {arm} configuration {values}: one trial of the search budget",
                file=sys.stderr,
            )
    return n
