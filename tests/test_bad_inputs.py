"""A corpus of bad study files: each is refused by ``sweep validate`` and by ``sweep launch`` with
one line naming the file, its line and key, exit status 2, and nothing written.

Issue 22, item 1: a task's options were checked only inside the trial (every trial failed and
the launch exited 0 with "insufficient data"), reserved or duplicate references ran, and
confirmation sizes had no bound. The cases run in-process (``sweep.cli.main``) against the
analytic task; the storage would be created beside the file, so an empty folder afterwards
means nothing was written.
"""

from __future__ import annotations

import re

import pytest
from spaces import ANALYTIC_SPACE

from sweep.cli import main

BASE = ANALYTIC_SPACE.format(study="bad", trials=4) + "storage: studies.db\n"


def _sub(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def _add(lines: str):
    return lambda text: text + lines


PROXY = "proxy: {task: analytic, profile: cpu}"
SEARCH = "freq: {type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}"

#: (id, edit of BASE, the key path the error must name)
CASES = [
    # the proxy task's own options (checked by the task, before anything runs)
    ("option-negative", _sub(PROXY, PROXY[:-1] + ", options: {noise: -1}}"), "options.noise"),
    ("option-misspelt", _sub(PROXY, PROXY[:-1] + ", options: {nosie: 1}}"), "options.nosie"),
    ("option-nan", _sub(PROXY, PROXY[:-1] + ", options: {effect: .nan}}"), "options.effect"),
    ("option-string", _sub(PROXY, PROXY[:-1] + ", options: {noise: loud}}"), "options.noise"),
    ("option-optimum", _sub(PROXY, PROXY[:-1] + ", options: {optimum: 3}}"), "options.optimum"),
    ("option-list", _sub(PROXY, PROXY[:-1] + ", options: [1]}"), "options"),
    ("vit-options", _sub(PROXY, "proxy: {task: vit, profile: cpu, options: {a: 1}}"), "options.a"),
    ("task-unknown", _sub(PROXY, "proxy: {task: vitt, profile: cpu}"), "proxy.task"),
    ("profile-unknown", _sub(PROXY, "proxy: {task: analytic, profile: tpu}"), "proxy.profile"),
    # the confirmation's size: bounded
    ("confirm-max-seeds", _add("confirm: {max_seeds: 1000000000}\n"), "confirm.max_seeds"),
    ("confirm-seeds", _add("confirm: {seeds: 1000000}\n"), "confirm.seeds"),
    ("confirm-top", _add("confirm: {top: 1000}\n"), "confirm.top"),
    ("confirm-top-zero", _add("confirm: {top: 0}\n"), "confirm.top"),
    ("confirm-seeds-over-max", _add("confirm: {seeds: 8, max_seeds: 4}\n"), "confirm"),
    ("confirm-unknown", _add("confirm: {tops: 2}\n"), "confirm.tops"),
    ("confirm-string", _add("confirm: always\n"), "confirm"),
    # references: reserved names, twins, the published configuration again
    ("ref-published", _add("references: {published: {freq: [1, 5]}}\n"), "references.published"),
    ("ref-scratch", _add("references: {scratch: {freq: [1, 5]}}\n"), "references.scratch"),
    ("ref-search", _add("references: {search: {freq: [1, 5]}}\n"), "references.search"),
    ("ref-confirm", _add("references: {confirm: {freq: [1, 5]}}\n"), "references.confirm"),
    ("ref-twins", _add("references: {a: {freq: [1, 5]}, b: {freq: [1, 5]}}\n"), "references.b"),
    ("ref-is-published", _add("references: {pub: {freq: [0, 20]}}\n"), "references.pub"),
    ("ref-unknown-param", _add("references: {a: {frek: [1, 5]}}\n"), "references.a.frek"),
    ("ref-missing-param", _add("references: {a: {}}\n"), "references.a"),
    ("ref-out-of-range", _add("references: {a: {freq: [1, 50]}}\n"), "references.a.freq"),
    ("ref-not-a-pair", _add("references: {a: {freq: 3}}\n"), "references.a.freq"),
    # the study, its budget and engine
    ("study-name", _sub("study: bad", "study: 'bad name/..'"), "study"),
    ("unknown-top-key", _add("budgett: {trials: 3}\n"), "budgett"),
    ("trials-zero", _sub("trials: 4", "trials: 0"), "budget.trials"),
    ("trials-negative", _sub("trials: 4", "trials: -3"), "budget.trials"),
    ("trials-huge", _sub("trials: 4", "trials: 1000000000000"), "budget.trials"),
    ("workers-zero", _sub("workers: 2", "workers: 0"), "budget.workers"),
    ("workers-string", _sub("workers: 2", "workers: many"), "budget.workers"),
    ("sampler-unknown", _add("sampler: tpee\n"), "sampler"),
    ("sampler-option", _add("sampler: {name: tpe, options: {n_startup: 3}}\n"), "sampler"),
    ("pruner-unknown", _add("pruner: medianx\n"), "pruner"),
    ("backend-unknown", _add("backend: slurm\n"), "backend"),
    ("smallest-effect-negative", _add("smallest_effect: -1\n"), "smallest_effect"),
    ("smallest-effect-string", _add("smallest_effect: big\n"), "smallest_effect"),
    ("data-seed-negative", _add("data_seed: -1\n"), "data_seed"),
    ("seeds-empty", _add("seeds: []\n"), "seeds"),
    ("seeds-negative", _add("seeds: [-1]\n"), "seeds"),
    ("objective-direction", _sub("headline: maximize", "headline: up"), "objectives"),
    (
        "objective-empty",
        _sub("objectives: [{headline: maximize}]", "objectives: []"),
        "objectives",
    ),
    ("storage-scheme", _sub("storage: studies.db", "storage: mongodb://x/y"), "storage"),
    # the generator and the search
    ("generator-unknown", _sub("name: visualatom", "name: visualatomm"), "generator.name"),
    ("search-low-high", _sub("low: 0, high: 20", "low: 20, high: 0"), "search.freq"),
    ("search-type", _sub("type: int_range", "type: intrange"), "search.freq.type"),
    ("search-target", _sub("targets: [freq1, freq2]", "targets: [freq9]"), "search.freq"),
    ("search-width", _sub("min_width: 1", "min_width: 50"), "search.freq"),
    ("search-empty", _sub("  " + SEARCH, "  {}"), "search"),
    # more of every section (issue 22: a corpus of at least 80)
    ("question-list", _add("question: [1, 2]\n"), "question"),
    ("sampler-bogus-option", _add("sampler: {name: random, options: {bogus: 1}}\n"), "sampler"),
    ("pruner-negative", _add("pruner: {name: median, options: {n_warmup_steps: -1}}\n"), "pruner"),
    ("ray-cpus", _add("backend: {name: ray, resources: {cpus: -1}}\n"), "backend.resources"),
    ("profile-unknown-block", _add("profiles: {tpu: {}}\n"), "profiles.tpu"),
    ("data-seed-float", _add("data_seed: 1.5\n"), "data_seed"),
    ("data-seed-huge", _add("data_seed: 10000000000000000000000\n"), "data_seed"),
    ("seeds-twice", _add("seeds: [1, 1]\n"), "seeds"),
    ("seeds-string", _add("seeds: abc\n"), "seeds"),
    ("seeds-float", _add("seeds: [1.5]\n"), "seeds"),
    ("seeds-huge", _add("seeds: [100000000000000000000]\n"), "seeds"),
    ("smallest-effect-zero", _add("smallest_effect: 0\n"), "smallest_effect"),
    ("smallest-effect-inf", _add("smallest_effect: .inf\n"), "smallest_effect"),
    ("ref-reversed", _add("references: {a: {freq: [5, 1]}}\n"), "references.a.freq"),
    ("ref-not-mapping", _add("references: x\n"), "references"),
    ("ref-empty-name", _add("references: {'': {freq: [1, 5]}}\n"), "references"),
    ("calibration-number", _add("calibration: 3\n"), "calibration"),
    ("confirm-top-float", _add("confirm: {top: 2.5}\n"), "confirm.top"),
    ("confirm-seeds-negative", _add("confirm: {seeds: -3}\n"), "confirm.seeds"),
    ("budget-misspelt", _add("budget2: 1\n"), "budget2"),
    ("timeout-negative", _sub("workers: 2}", "workers: 2, timeout_s: -1}"), "budget.timeout_s"),
    ("max-failed-zero", _sub("workers: 2}", "workers: 2, max_failed: 0}"), "budget.max_failed"),
    ("storage-twice", _add("storage: other.db\n"), "storage"),
    ("option-sleep-negative", _sub(PROXY, PROXY[:-1] + ", options: {sleep_s: -1}}"), "sleep_s"),
    ("option-effect-string", _sub(PROXY, PROXY[:-1] + ", options: {effect: big}}"), "effect"),
    ("generator-not-mapping", _sub("generator: {name: visualatom}", "generator: 3"), "generator"),
    # the YAML itself
    ("yaml-syntax", _add("budget: [\n"), None),
    ("yaml-duplicate", _add("study: again\n"), "study"),
    ("yaml-tab", _add("\tx: 1\n"), None),
]


@pytest.mark.parametrize("case,edit,key", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["validate", "launch"])
def test_a_bad_file_is_one_line_exit_2_and_nothing_written(
    tmp_path, monkeypatch, capsys, case, edit, key, command
):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "bad.yaml"
    f.write_text(edit(BASE))
    argv = [command, str(f)] + (
        ["--no-progress", "--device", "cpu"] if command == "launch" else []
    )
    rc = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, (case, rc, out[-500:], err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("sweep: error: "), (case, err)
    assert re.search(r"bad\.yaml(:\d+)?: ", lines[0]), (case, lines[0])  # the file and line
    if key is not None:
        assert key in lines[0].split("bad.yaml", 1)[1], (case, key, lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"], case  # nothing written
    if command == "launch":
        assert out == "", (case, out)


def test_the_corpus_is_large_and_every_case_changes_the_file():
    assert len(CASES) >= 80
    for case, edit, _ in CASES:
        assert edit(BASE) != BASE, case


HOOK = """\
import proxy_tasks.analytic as _analytic
def _fail(self, spec, report=None):
    raise RuntimeError("planted: the proxy cannot start")
_analytic.AnalyticProxy.run = _fail
"""


def test_a_launch_whose_every_trial_failed_exits_non_zero_with_the_first_reason(tmp_path):
    import os
    import subprocess
    import sys

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    f = tmp_path / "bad.yaml"
    f.write_text(BASE.replace("trials: 4", "trials: 3") + "confirm: false\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "sweep", "launch", str(f), "--no-progress", "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, (proc.stdout[-2000:], proc.stderr[-3000:])
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sweep: error: every trial failed ("), proc.stderr[-3000:]
    assert "planted: the proxy cannot start" in last and "the first: trial " in last, last
