"""The trial record: what a study and its trials store, in one place.

Every study attribute key, every trial attribute key and prefix, the encoding of the
pre-training loss's steps, retry detection and budget counting live here, and every reader
(the engine, the Ray backend, the calibration, ``sweep status``/``export`` and the report)
goes through this module instead of spelling the strings itself. :class:`TrialRecord` is a
typed, immutable view of one Optuna trial as the engine wrote it.

Changing a key here changes the on-disk format: studies written by sweep 0.1.0 use exactly
these strings, so keep them stable (add new keys; never rename old ones).

Imports: the standard library and :mod:`sweep.values` (Optuna objects are duck-typed:
``FrozenTrial`` and ``Study`` are read through their public attributes).
"""

from __future__ import annotations

import datetime
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sweep.values import is_number, is_real, jsonable

#: a study name: letters, digits, '.', '_' and '-', starting with a letter or digit, at most
#: STUDY_NAME_MAX characters (every storage accepts it; it is also a file name in exports)
STUDY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
STUDY_NAME_MAX = 128


def study_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid study name, or None: the one rule for every study name,
    wherever it enters (the file's ``study:``, ``--fork``, a calibration's, a command's)."""
    if not isinstance(name, str) or not STUDY_NAME_RE.match(name):
        return f"expected a name of letters, digits, '.', '_' or '-', got {name!r}"
    if len(name) > STUDY_NAME_MAX:
        return f"a study name has at most {STUDY_NAME_MAX} characters, got {len(name)}"
    if name in (".", ".."):
        return f"expected a name, got {name!r}"
    return None


def check_study_name(name: object, label: str) -> str:
    """``name`` when it is a valid study name; a one-line :class:`SweepError` about ``label``."""
    from sweep.errors import SweepError

    if (why := study_name_problem(name)) is not None:
        raise SweepError(key=label, message=why)
    return str(name)


# ----------------------------------------------------------------------------- study attributes
#: the resolved study file (every section, the profile applied), JSON data
STUDY_CONFIG = "sweep:config"
#: absolute path of the study file at launch
STUDY_FILE = "sweep:file"
#: the study file's text at launch (``resume`` runs from it)
STUDY_FILE_TEXT = "sweep:file_text"
#: hash of what is searched (:meth:`sweep.study_config.StudyConfig.space_hash`)
STUDY_HASH = "sweep:space_hash"
#: the resolved profile (cpu or gpu)
STUDY_PROFILE = "sweep:profile"
#: ``{"trials": ..., "workers": ..., "max_failed": ...}`` of the last launch
STUDY_BUDGET = "sweep:budget"
#: the fields of :data:`STUDY_BUDGET`'s value
BUDGET_TRIALS, BUDGET_WORKERS, BUDGET_MAX_FAILED = "trials", "workers", "max_failed"
#: set by ``sweep stop`` (and by too many failures): running trials finish, none start
STUDY_STOP = "sweep:stop"
STUDY_GIT = "sweep:git_commit"
STUDY_VERSIONS = "sweep:versions"
#: the study file's ``question:``
STUDY_QUESTION = "question"
#: the plan of a calibration study (design, configurations, levels, hash)
STUDY_CALIBRATION_PLAN = "sweep:calibration_plan"
#: the plan of a noise-budget study (``kind: noise``: its arms, data seeds and training seeds,
#: hash; :mod:`sweep.noise_cli`)
STUDY_NOISE_PLAN = "sweep:noise_plan"
#: the plans that make a study one of fixed cells, which ``sweep launch`` runs without arms,
#: confirmation or answer
FIXED_CELL_PLANS = (STUDY_CALIBRATION_PLAN, STUDY_NOISE_PLAN)
#: the calibration's summary (:func:`sweep.calibration.analysis.analyze`), written by it
STUDY_CALIBRATION = "sweep:calibration"
#: the noise budget of the study's proxy (:func:`sweep.noise.noise_budget`, ``sweep noise``):
#: variance components, the arms' correlation, the paired SD, the seeds a decision needs
STUDY_NOISE = "sweep:noise"
#: the study's answer to its question (:func:`sweep.answer.answer_of_study`): the verdict,
#: its reason, the paired comparisons; written at the end of every launch
STUDY_ANSWER = "sweep:answer"
#: the confirmation plan: candidates, the common fresh seeds, the cap (sweep.engine)
STUDY_CONFIRM = "sweep:confirm"
#: how visible each searched axis is at the training size (:mod:`sweep.visibility`), read by
#: :func:`sweep.answer.answer_of_study`
STUDY_VISIBILITY = "sweep:visibility"

# ----------------------------------------------------------------------------- trial attributes
#: ``host:pid`` of the worker running the trial
WORKER = "sweep:worker"
#: the number of the failed trial this one retries (same parameters)
RETRY_OF = "sweep:retry_of"
#: a trial stopped by Ctrl-C (not its own failure): the next run retries it
INTERRUPTED = "sweep:interrupted"
#: ``{"recipe": {...}, "seeds": [...], "data_seed": d, "attrs": {...}}`` of an enqueued trial
#: with fixed recipe overrides, training seeds, data seed (optional) and labels (calibration,
#: confirmation and noise-budget cells)
FIXED = "sweep:fixed"
#: the fields of a :data:`FIXED` value (:func:`fixed_value`)
FIXED_RECIPE, FIXED_SEEDS, FIXED_DATA_SEED, FIXED_ATTRS = "recipe", "seeds", "data_seed", "attrs"
#: the data seed of each of a trial's seeds (:meth:`StudyConfig.data_seed_for`), aligned with
#: ``SEEDS`` (the training seeds)
DATA_SEEDS = "sweep:data_seeds"
#: a trial that lost its claim on a ticket of the search budget (other workers, of this launcher
#: or another one, held every ticket when it started): it gave its ticket back without running
#: (FAIL; the values it drew are not recorded as ``param:*``) and counts nowhere
#: (:func:`claim_holds`)
CLAIM_LOST = "sweep:claim_lost"
#: Optuna's own retry link (heartbeat retries), a system attribute
OPTUNA_RETRY = "failed_trial"
#: Optuna's failure reason, a system attribute
OPTUNA_FAIL_REASON = "fail_reason"
#: the parameters of an enqueued trial (``study.enqueue_trial``), a system attribute: all a
#: trial whose worker died before it drew its values has
OPTUNA_FIXED_PARAMS = "fixed_params"
ERROR = "error"
ERROR_TYPE = "error_type"
#: the resolved dataset, ``{"fingerprint": ..., **config}`` (:func:`dataset_value`): what a task
#: returns as ``info["dataset"]`` and the trial stores; enough to re-render its images
DATASET = "dataset"
#: the dataset's fingerprint: a field of :data:`DATASET`'s value
FINGERPRINT = "fingerprint"
DATASET_FINGERPRINT = "dataset_fingerprint"
SEEDS = "seeds"
DEVICE = "device"
#: what a RUNNING trial is doing, written by its worker at most every PROGRESS_EVERY_S seconds
#: and at each change of phase: ``{"seed": i, "seeds": n, "phase": "pretrain", "step": 12,
#: "of": 20}`` (seed i of n, epoch 12 of 20); None once the trial has run
PROGRESS = "sweep:progress"
PROGRESS_EVERY_S = 2.0
#: the fields of a :data:`PROGRESS` value (:func:`progress_value`)
PROGRESS_SEED, PROGRESS_SEEDS, PROGRESS_PHASE, PROGRESS_STEP, PROGRESS_OF = (
    "seed",
    "seeds",
    "phase",
    "step",
    "of",
)
#: ``{"<seed>": {"<metric>": value}}``: the objective metrics and ``scratch_headline`` of each
#: replicate seed (a trial's ``headline`` is their mean): what paired comparisons read
PER_SEED = "sweep:per_seed"
#: which arm a trial belongs to: ``search`` (absent: search), ``published`` (the published
#: configuration), ``confirm`` (a re-evaluation on the common fresh seeds) or
#: ``reference:<name>``
ARM = "sweep:arm"
ARM_SEARCH, ARM_PUBLISHED, ARM_CONFIRM, ARM_REFERENCE = (
    "search",
    "published",
    "confirm",
    "reference:",
)
#: the canonical JSON of the resolved searched values: trials with the same key ran the same
#: configuration
CONFIG_KEY = "sweep:config_key"
#: ``k`` when this trial is the k-th evaluation of a configuration already run (on new seeds)
REPLICATE = "sweep:replicate"
#: ``param:<name>``: a searched parameter's resolved value (a range pair as ``[min, max]``)
PARAM_PREFIX = "param:"
#: ``diversity/<metric>``: the dataset's diversity block (:mod:`sweep.diversity`)
DIVERSITY_PREFIX = "diversity/"
#: diversity attributes that describe the sample, not the data
DIVERSITY_BOOKKEEPING = ("n", "feature_size")
#: the diversity block's own seconds, left out of the record (the task times it itself)
DIVERSITY_TIME = "time_s"
#: labels of calibration cells (their values come from ``FIXED["attrs"]``)
LABEL_CONFIG = "calibration:config"
LABEL_LEVEL = "calibration:level"
LABEL_SEED = "calibration:seed"
#: the label of a noise-budget cell (``sweep noise``): its arm (its seeds: ``FIXED``'s)
LABEL_NOISE_ARM = "noise:arm"
#: the prefix of the engine's own bookkeeping attributes (``sweep:*``)
SWEEP_PREFIX = "sweep:"
#: the attribute prefixes that are not metrics
NOT_METRIC_PREFIXES = (PARAM_PREFIX, SWEEP_PREFIX)

# ----------------------------------------------------------------------------- metrics
# A task's metrics (``TrialResult.metrics``) become its trial's user attributes (their mean over
# the seeds, and ``<metric>_std``), so their names are record keys too: the tasks write them,
# and the answer, the report and the calibration read them, through these names.
#: the task's headline: what a study optimises unless its file says otherwise
HEADLINE = "headline"
#: the headline of the same model without pre-training, on the same seed and downstreams
#: (``scratch_attr(HEADLINE)``)
SCRATCH_METRIC = "scratch_headline"
#: the headline minus its scratch baseline (``gain_attr(HEADLINE)``)
GAIN_HEADLINE = "gain_headline"
#: the final pre-training loss; a task also reports each epoch's loss under this name (the
#: pruner and the progress of a running trial follow it): ``loss_name("pretrain")``
PRETRAIN_LOSS = "pretrain_loss"
#: the ViT task's run: whether pre-training and every fine-tuning ran compiled, pre-training
#: images per second, the device's peak memory in GiB (CUDA only)
PRETRAIN_COMPILED = "pretrain_compiled"
PRETRAIN_IMAGES_PER_S = "pretrain_images_per_s"
FINETUNE_COMPILED = "finetune_compiled"
GPU_PEAK_MEM = "gpu_peak_mem_gib"
#: the analytic task's normalised distance from its optimum (:mod:`proxy_tasks.analytic`)
PENALTY = "penalty"
#: RankMe and Vendi (q=1) of a model's features on a downstream (:func:`downstream_attr`;
#: :func:`sweep.diversity.feature_block`)
RANKME, FEATURE_VENDI = "rankme", "feature_vendi"
#: the downstream evaluations, the kinds a recipe's ``headline`` names: one value per
#: downstream (:func:`downstream_attr`), their mean (:func:`mean_attr`) and gain
FINETUNE, LINEAR, LINEAR_SOFT, KNN = "finetune", "linear", "linear_soft", "knn"
HEADLINE_KINDS = (FINETUNE, LINEAR, LINEAR_SOFT, KNN)
#: ``time_<phase>``: the seconds a phase of the trial took (:func:`time_attr`), the whole
#: trial's (``time_attr("total_s")``) and the scratch baselines' (``time_attr("scratch_s")``)
TIME_PREFIX = "time_"
TIME_TOTAL = "time_total_s"
TIME_SCRATCH = "time_scratch_s"
#: how a metric's name is derived from another's (see the functions below)
SCRATCH_PREFIX, GAIN_PREFIX = "scratch_", "gain_"
MEAN_SUFFIX, STD_SUFFIX, LOSS_SUFFIX = "_mean", "_std", "_loss"
DOWNSTREAM_SEP = "/"


def time_attr(phase: str) -> str:
    """``time_<phase>``: the seconds ``phase`` (``"generate_s"``, ``"total_s"``, ...) took."""
    return f"{TIME_PREFIX}{phase}"


def std_attr(metric: str) -> str:
    """``<metric>_std``: the standard deviation of ``metric`` over a trial's seeds."""
    return f"{metric}{STD_SUFFIX}"


def mean_attr(metric: str) -> str:
    """``<metric>_mean``: the mean of ``metric`` over the downstreams."""
    return f"{metric}{MEAN_SUFFIX}"


def scratch_attr(metric: str) -> str:
    """``scratch_<metric>``: ``metric`` of the model without pre-training
    (``scratch_attr(HEADLINE) == SCRATCH_METRIC``)."""
    return f"{SCRATCH_PREFIX}{metric}"


def gain_attr(metric: str) -> str:
    """``gain_<metric>``: ``metric`` minus its scratch baseline."""
    return f"{GAIN_PREFIX}{metric}"


def downstream_attr(downstream: str, metric: str) -> str:
    """``<downstream>/<metric>``: ``metric`` on one downstream dataset."""
    return f"{downstream}{DOWNSTREAM_SEP}{metric}"


def loss_name(phase: str) -> str:
    """``<phase>_loss``: the name a task reports ``phase``'s loss under each epoch."""
    return f"{phase}{LOSS_SUFFIX}"


# ----------------------------------------------------------------------------- loss steps
#: a trial reports its pre-training loss at step ``replicate * LOSS_STEP + epoch``
LOSS_STEP = 10_000

#: the trial states, as Optuna names them, in the order ``sweep status`` prints them
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


def loss_step(replicate: int, epoch: int) -> int:
    """The intermediate-value step of ``epoch`` of replicate ``replicate``."""
    return replicate * LOSS_STEP + epoch


def split_loss_step(step: int) -> tuple[int, int]:
    """``(replicate, epoch)`` of an intermediate-value step (inverse of :func:`loss_step`)."""
    rep, epoch = divmod(int(step), LOSS_STEP)
    return rep, epoch


def param_attr(name: str) -> str:
    return f"{PARAM_PREFIX}{name}"


def resolved_params(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved searched values a trial stored (``param:*``), by parameter name."""
    n = len(PARAM_PREFIX)
    return {k[n:]: v for k, v in attrs.items() if k.startswith(PARAM_PREFIX)}


def metric_attrs(attrs: Mapping[str, Any]) -> dict[str, float]:
    """The numeric user attributes that are metrics (not parameters nor bookkeeping)."""
    return {
        k: float(v)
        for k, v in attrs.items()
        if is_real(v) and not k.startswith(NOT_METRIC_PREFIXES)
    }


# ----------------------------------------------------------------------------- retries, budget
def retry_of(t: Any) -> int | None:
    """The trial a retry replaces: ours (``sweep:retry_of``) or Optuna's heartbeat retry."""
    if RETRY_OF in t.user_attrs:
        return int(t.user_attrs[RETRY_OF])
    v = t.system_attrs.get(OPTUNA_RETRY)
    return None if v is None else int(v)


def retried_numbers(trials: Iterable[Any]) -> set[int]:
    """Numbers of the trials that a later trial retries."""
    return {n for n in (retry_of(t) for t in trials) if n is not None}


def n_retries(trials: Iterable[Any]) -> int:
    return sum(retry_of(t) is not None for t in trials)


def claim_lost(t: Any) -> bool:
    """Whether a trial gave its budget ticket back without running (:data:`CLAIM_LOST`)."""
    return bool(t.user_attrs.get(CLAIM_LOST))


def counts(trials: Iterable[Any]) -> dict[str, int]:
    """Trials per state, every state of :data:`STATES` present (claim-lost trials, which never
    ran, left out)."""
    c = Counter(t.state.name for t in trials if not claim_lost(t))
    return {k: c.get(k, 0) for k in STATES}


def used_budget(trials: Iterable[Any]) -> int:
    """Trials that consumed a ticket: finished ones, except failures that were retried and
    trials that lost their claim."""
    trials = list(trials)
    retried = retried_numbers(trials)
    used = 0
    for t in trials:
        name = t.state.name
        if claim_lost(t):
            continue
        if name in ("COMPLETE", "PRUNED") or (name == "FAIL" and t.number not in retried):
            used += 1
    return used


def arm_of(attrs: Mapping[str, Any]) -> str:
    """The arm of a trial from its user attributes (:data:`ARM`; absent: ``search``)."""
    return str(attrs.get(ARM) or ARM_SEARCH)


def used_search_budget(trials: Iterable[Any]) -> int:
    """:func:`used_budget` of the trials that are not confirmation trials: what the search
    budget (``budget.trials``, the published and reference arms included) has consumed."""
    return used_budget(t for t in trials if arm_of(t.user_attrs) != ARM_CONFIRM)


# ----------------------------------------------------------------------------- budget claims
# The search budget is claimed in the storage, whatever the number of launchers, hosts and
# resumes sharing a study. Creating a trial is atomic in every storage (SQLite and PostgreSQL
# number trials under a lock of the study row, a journal appends under its file lock), so trial
# numbers are a total order. A ticket is held by every search-budget trial (not a confirmation
# cell, not claim-lost) that is not a retry: a retry runs on the ticket of its lineage's first
# trial. A trial that starts holds its ticket when fewer than ``budget`` tickets are held by
# trials numbered below its lineage's first (:func:`claim_holds`); otherwise it gives the ticket
# back (:data:`CLAIM_LOST`) before it runs anything. Any two workers deciding at once see the
# same lower-numbered trials, so no more than ``budget`` lineages ever run; a trial counted before
# it decided and later lost was itself beyond the budget, so none runs short.
#: the states in which an enqueued arm trial or confirmation cell has (or will have) run
TAKEN = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")


def budget_trial(t: Any) -> bool:
    """Whether a trial belongs to the search budget: not a confirmation cell, not claim-lost."""
    return arm_of(t.user_attrs) != ARM_CONFIRM and not claim_lost(t)


def holds_ticket(t: Any) -> bool:
    """Whether a trial holds a ticket of the search budget of its own (see above)."""
    return budget_trial(t) and retry_of(t) is None


def tickets_held(trials: Iterable[Any], below: int | None = None) -> int:
    """Tickets of the search budget held by ``trials`` (numbered below ``below``, if given):
    every lineage that claimed one, whatever its state (WAITING and RUNNING included)."""
    return sum(holds_ticket(t) for t in trials if below is None or t.number < below)


def lineage_root(t: Any, by_number: Mapping[int, Any]) -> Any:
    """The first trial of ``t``'s lineage (``t`` itself unless it retries a trial)."""
    seen = {t.number}
    while (n := retry_of(t)) is not None and n in by_number and n not in seen:
        seen.add(n)
        t = by_number[n]
    return t


def twin_key(t: Any) -> tuple | None:
    """What a trial that exists once per study is: an enqueued arm (``published``,
    ``reference:<name>``) or a confirmation cell (its configuration and seed); None for others."""
    arm = arm_of(t.user_attrs)
    if arm == ARM_CONFIRM:
        seeds = (t.user_attrs.get(FIXED) or {}).get(FIXED_SEEDS) or [None]
        return (arm, t.user_attrs.get(CONFIG_KEY), seeds[0])
    if arm != ARM_SEARCH:
        return (arm,)
    return None


def claim_holds(trials: Iterable[Any], t: Any, budget: int | None) -> bool:
    """Whether trial ``t``, starting, may run: its lineage's ticket is within ``budget`` (None:
    no limit; a confirmation cell has none), and no lower-numbered trial of the same arm or cell
    (:func:`twin_key`: two launchers enqueued it) has run, runs or waits to run."""
    trials = list(trials)
    if (key := twin_key(t)) is not None:
        for o in trials:
            taken = o.state.name in TAKEN and not claim_lost(o)
            if o.number < t.number and taken and twin_key(o) == key:
                return False
    if budget is None or not budget_trial(t):
        return True
    root = lineage_root(t, {o.number: o for o in trials})
    if root is not t and claim_lost(root):
        return False
    return tickets_held(trials, below=root.number) < budget


def config_key(values: Mapping[str, Any]) -> str:
    """The :data:`CONFIG_KEY` of resolved searched values: canonical JSON (sorted keys, no
    spaces, ranges as lists)."""
    return json.dumps(jsonable(dict(values)), sort_keys=True, separators=(",", ":"))


def fixed_value(
    seeds: list[int],
    attrs: Mapping[str, Any],
    *,
    recipe: Mapping[str, Any] | None = None,
    data_seed: int | None = None,
) -> dict[str, Any]:
    """The :data:`FIXED` value of an enqueued cell: its training seeds, labels, recipe
    overrides and data seed (the last two left out when None)."""
    out: dict[str, Any] = {} if recipe is None else {FIXED_RECIPE: dict(recipe)}
    out[FIXED_SEEDS] = list(seeds)
    if data_seed is not None:
        out[FIXED_DATA_SEED] = data_seed
    out[FIXED_ATTRS] = dict(attrs)
    return out


def fixed_labels(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The labels of an enqueued fixed trial (``calibration:*``), ``{}`` for others."""
    return dict((attrs.get(FIXED) or {}).get(FIXED_ATTRS) or {})


def dataset_value(fingerprint: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`DATASET` value of a dataset: its fingerprint and resolved config."""
    return {FINGERPRINT: fingerprint, **config}


def progress_value(seed: int, seeds: int, phase: str, step: int, of: int) -> dict[str, Any]:
    """The :data:`PROGRESS` value of a trial at ``step`` of ``of`` of ``phase``, on seed
    ``seed`` of ``seeds`` (read back by :func:`progress_text`)."""
    return {
        PROGRESS_SEED: seed,
        PROGRESS_SEEDS: seeds,
        PROGRESS_PHASE: phase,
        PROGRESS_STEP: step,
        PROGRESS_OF: of,
    }


# ----------------------------------------------------------------------------- the typed view
@dataclass(frozen=True)
class TrialRecord:
    """One trial as the engine wrote it: what every reader of a study needs, typed.

    ``params`` are the resolved searched values (``param:*``); a study that ``sweep launch``
    did not write has none, and then Optuna's raw parameters stand in (``sweep_study=False``).
    ``intermediate`` maps Optuna steps to reported values as stored (see :func:`loss_step`).
    """

    number: int
    state: str
    values: tuple[float, ...] | None
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    attrs: Mapping[str, Any] = field(repr=False)
    raw_params: Mapping[str, Any] = field(default_factory=dict, repr=False)
    intermediate: Mapping[int, float] = field(default_factory=dict, repr=False)
    datetime_start: datetime.datetime | None = None
    datetime_complete: datetime.datetime | None = None
    duration_s: float | None = None
    system_attrs: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_trial(cls, t: Any, *, sweep_study: bool = True) -> TrialRecord:
        """The record of an Optuna ``FrozenTrial``."""
        a = dict(t.user_attrs)
        params = resolved_params(a)
        if not params and not sweep_study:
            params = dict(t.params)
        return cls(
            number=int(t.number),
            state=t.state.name,
            values=tuple(float(v) for v in t.values) if t.values is not None else None,
            params=params,
            metrics=metric_attrs(a),
            attrs=a,
            raw_params=dict(t.params),
            intermediate={int(k): float(v) for k, v in sorted(t.intermediate_values.items())},
            datetime_start=t.datetime_start,
            datetime_complete=t.datetime_complete,
            duration_s=t.duration.total_seconds() if t.duration else None,
            system_attrs=dict(t.system_attrs),
        )

    @property
    def complete(self) -> bool:
        return self.state == "COMPLETE"

    @property
    def worker(self) -> str | None:
        return self.attrs.get(WORKER)

    @property
    def retry_of(self) -> int | None:
        v = self.attrs.get(RETRY_OF, self.system_attrs.get(OPTUNA_RETRY))
        return None if v is None else int(v)

    @property
    def interrupted(self) -> bool:
        return bool(self.attrs.get(INTERRUPTED))

    @property
    def error(self) -> str | None:
        err = self.attrs.get(ERROR) or self.system_attrs.get(OPTUNA_FAIL_REASON)
        return str(err) if err is not None else None

    @property
    def error_type(self) -> str | None:
        return self.attrs.get(ERROR_TYPE)

    @property
    def seeds(self) -> list[int] | None:
        return self.attrs.get(SEEDS)

    @property
    def device(self) -> str | None:
        return self.attrs.get(DEVICE)

    @property
    def fingerprint(self) -> str | None:
        return self.attrs.get(DATASET_FINGERPRINT)

    @property
    def dataset(self) -> Mapping[str, Any] | None:
        return self.attrs.get(DATASET)

    @property
    def arm(self) -> str:
        """``search``, ``published``, ``confirm`` or ``reference:<name>``."""
        return arm_of(self.attrs)

    @property
    def replicate(self) -> int:
        """``k`` of the k-th evaluation of its configuration on new seeds (0: the first)."""
        v = self.attrs.get(REPLICATE)
        return int(v) if is_number(v) else 0

    @property
    def config_key(self) -> str | None:
        return self.attrs.get(CONFIG_KEY)

    def per_seed(self, metric: str) -> dict[int, float]:
        """``{seed: value}`` of ``metric`` for each replicate seed the trial stored."""
        out = {}
        for seed, values in (self.attrs.get(PER_SEED) or {}).items():
            v = (values or {}).get(metric)
            if is_number(v):
                out[int(seed)] = float(v)
        return out

    @property
    def labels(self) -> dict[str, Any]:
        """Calibration labels (``calibration:config|level|seed``) of a fixed trial."""
        return fixed_labels(self.attrs)

    def metric(self, name: str) -> float | None:
        v = self.attrs.get(name)
        return float(v) if is_number(v) else None

    def diversity(self) -> dict[str, float]:
        """The dataset's diversity block, bookkeeping left out."""
        n = len(DIVERSITY_PREFIX)
        return {
            k[n:]: v
            for k, v in self.metrics.items()
            if k.startswith(DIVERSITY_PREFIX) and k[n:] not in DIVERSITY_BOOKKEEPING
        }

    def loss_curves(self) -> dict[int, list[tuple[int, float]]]:
        """The stored intermediate values per replicate, as ``(epoch, value)`` pairs."""
        out: dict[int, list[tuple[int, float]]] = {}
        for step, v in self.intermediate.items():
            rep, epoch = split_loss_step(step)
            out.setdefault(rep, []).append((epoch, v))
        return {r: sorted(p) for r, p in sorted(out.items())}


def records(study: Any, *, states: tuple | None = None) -> list[TrialRecord]:
    """Every trial of ``study`` as a :class:`TrialRecord` (a sweep study: ``param:*`` params),
    claim-lost trials (which never ran) left out."""
    sweep_study = STUDY_CONFIG in study.user_attrs
    kw = {"states": states} if states is not None else {}
    return [
        TrialRecord.from_trial(t, sweep_study=sweep_study)
        for t in study.get_trials(deepcopy=False, **kw)
        if not claim_lost(t)
    ]


def progress_text(p: Any) -> str:
    """``pretrain 12/20, seed 2/3``: a RUNNING trial's :data:`PROGRESS` in words ('' if none)."""
    if not isinstance(p, dict) or not p.get(PROGRESS_PHASE):
        return ""
    text = str(p[PROGRESS_PHASE])
    if p.get(PROGRESS_OF):
        text += f" {p.get(PROGRESS_STEP, 0)}/{p[PROGRESS_OF]}"
    if (p.get(PROGRESS_SEEDS) or 1) > 1:
        text += f", seed {int(p.get(PROGRESS_SEED, 0)) + 1}/{p[PROGRESS_SEEDS]}"
    return text
