"""The report's data: everything the page shows, read from a study as plain dicts and lists.

:func:`report_data` is the one entry point; each part comes from its module (``_get_X_info`` in
Optuna's terms): :mod:`reports.answer` (the study's answer to its question),
:mod:`reports.references` (the published configuration's and scratch's means),
:mod:`reports.study` (summary, trials, columns), :mod:`reports.ranges` (the range pairs'
(min, max) planes), :mod:`reports.view` (importances and their
permutation null), :mod:`reports.correlations` (diversity), :mod:`reports.outcomes` (replicates,
learning curves, failures) and :mod:`reports.samples` (thumbnails). No figures here
(:mod:`reports.figures`) and no HTML (:mod:`reports.page`).

Imports: the standard library, :mod:`sweep.record`, :mod:`sweep.paper` (the published results
as the external check) and the ``reports`` data modules above.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypedDict

from reports import (
    answer,
    correlations,
    outcomes,
    ranges,
    references,
    samples,
    sampling,
    study,
    view,
)
from sweep import paper, record
from sweep.record import TrialRecord

#: the version of the data layout embedded in the page (``sweep-report-data``); 2: the answer,
#: the reference arms, the trials' arms and the importances' permutation null. Added since, with
#: nothing removed or changed (so still 2): ``caps`` (what a figure draws of a large study), the
#: ``sampled`` note of the ranges, learning curves and replicates, the importances' ``fit`` and
#: the range pairs' ``published_marks``
FORMAT = 2


class ReportData(TypedDict):
    format: int
    generated: str
    seed: int
    caps: sampling.Caps
    answer: answer.AnswerInfo
    references: references.ReferencesInfo
    summary: study.Summary
    objectives: list[study.Objective]
    columns: list[study.Column]
    trials: list[study.TrialRow]
    best: list[int]
    ranges: ranges.RangesInfo
    importances: view.ImportancesInfo
    diversity: correlations.DiversityInfo
    replicates: outcomes.ReplicatesInfo
    learning: outcomes.LearningInfo
    failures: list[outcomes.Failure]
    samples: samples.SamplesInfo
    paper: dict[str, Any] | None


def report_data(
    s,
    *,
    seed: int = 0,
    n_boot: int = correlations.N_BOOT,
    samples: bool = True,
    caps: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as plain dicts and lists (no figures).

    ``seed`` seeds the bootstrap intervals, fANOVA importances and the samples a figure draws
    of a large study (through :class:`sweep.seeding.Seeds`); ``samples=False`` skips
    re-rendering thumbnails; ``caps`` overrides :func:`reports.sampling.caps` (how many points
    a figure draws, how many trials fANOVA fits)."""
    with view.quiet_optuna():
        return dict(_report_data(s, seed, n_boot, samples, sampling.caps(**(caps or {}))))


def _report_data(s, seed: int, n_boot: int, with_samples: bool, caps: sampling.Caps) -> ReportData:
    sweep_study = record.STUDY_CONFIG in s.user_attrs
    # a trial that lost its claim on a budget ticket never ran (sweep.record.CLAIM_LOST)
    trials = sorted(
        (t for t in s.get_trials(deepcopy=False) if not record.claim_lost(t)),
        key=lambda t: t.number,
    )
    recs = [TrialRecord.from_trial(t, sweep_study=sweep_study) for t in trials]
    objectives = study.objectives(s)
    columns = study.param_columns(s, trials)
    rows = [study.trial_row(r, columns) for r in recs]
    ans = answer.answer_info(s)
    head: dict[str, Any] = {
        "format": FORMAT,
        "generated": datetime.datetime.now().isoformat(timespec="seconds"),
        "seed": seed,
        "caps": caps,
        "answer": ans,
        "references": references.references(recs, objectives, ans["answer"]),
        "summary": study.summary(s, recs, rows, objectives),
        "objectives": objectives,
        "columns": columns,
        "trials": rows,
        "best": study.best(s, rows, objectives),
    }
    v = view.view_study(head)
    return {
        **head,  # type: ignore[typeddict-item]
        "ranges": ranges.ranges(
            head["summary"]["search"], rows, objectives, head["references"], seed, caps["points"]
        ),
        "importances": view.importances(
            v,
            columns,
            objectives,
            seed,
            max_trials=caps["null_trials"],
            max_fit=caps["importance_trials"],
        ),
        "diversity": correlations.diversity(rows, objectives, seed, n_boot),
        "replicates": outcomes.replicates(rows, objectives, recs, caps["configs"]),
        "learning": outcomes.learning_curves(rows, objectives, sweep_study, seed, caps["curves"]),
        "failures": outcomes.failures(rows),
        "samples": samples.samples(s, rows, objectives, with_samples),
        "paper": paper.check(recs, s.user_attrs.get(record.STUDY_CONFIG)),
    }
