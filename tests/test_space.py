"""The search-space schema (sweep.space): study files, suggestions, samplers, storages, hashes."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import optuna
import pytest

from sweep.errors import SweepError
from sweep.generators import generator_class
from sweep.samplers import SAMPLERS, make_pruner, make_sampler
from sweep.schema.engine import Budget
from sweep.space import PARAM_TYPES, grid_size, search_space, suggest, values_from_params
from sweep.storage import default_storage, make_storage, mask_url, normalize_storage
from sweep.study_config import load_study_config

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "search_spaces").glob("*.yaml"))
HAS_CMAES = importlib.util.find_spec("cmaes") is not None

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


# A valid file; the corpus below rewrites parts of it (line numbers are the file's own).
BASE = """\
study: t
generator:
  name: visualatom
search:
  freq:
    type: int_range
    low: 0
    high: 20
    min_width: 1
    targets: [freq1, freq2]
proxy:
  task: vit
objectives:
  - headline: maximize
sampler: tpe
pruner: none
budget: {trials: 4, workers: 1}
"""


def _base(**replace: str) -> str:
    """BASE with whole lines replaced: ``_base(L7="    low: 30")`` (``L7`` = line 7)."""
    lines = BASE.splitlines()
    for key, new in replace.items():
        lines[int(key[1:]) - 1] = new
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- files
@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
def test_every_search_space_file_loads_and_resolves(path):
    spec = load_study_config(path)
    text = path.read_text()
    assert text.startswith("# Question:"), "each file starts with the question it answers"
    if "\ncalibration:" in text:  # a calibration file (sweep calibrate) says how to run it
        assert f"sweep calibrate search_spaces/{path.name}" in text
    else:
        assert f"sweep launch search_spaces/{path.name}" in text and "sweep trial" in text
    assert spec.search and spec.question
    assert spec.storage == default_storage(spec.study)
    for prof in ("cpu", "gpu"):
        resolved = json.loads(json.dumps(spec.resolved(prof)))
        assert resolved["proxy"]["profile"] == prof
        assert re.fullmatch(r"[0-9a-f]{16}", spec.space_hash(prof))
    # a cpu-profile search fits 10 minutes on 2 cores (about 10-20 s a pre-training, 2 at a
    # time); the paper check's design is its six rows on 16 paired seeds (48 rounds of two)
    cpu = spec.budget_for("cpu")
    limit = 48 if path.name == "paper_freq.yaml" else 8
    assert cpu.trials * len(spec.seeds) / cpu.workers <= limit and cpu.workers <= 2


def test_search_spaces_cover_the_questions():
    names = {p.stem for p in SPACES}
    assert {"freq", "orbits", "quantization", "noise", "multiobjective"} <= names
    assert names & {"rcdb", "onepfrac"}
    multi = load_study_config(ROOT / "search_spaces" / "multiobjective.yaml")
    assert multi.objectives == (("headline", "maximize"), ("time_total_s", "minimize"))
    assert multi.sampler["name"] == "nsga2"
    freq = load_study_config(ROOT / "search_spaces" / "freq.yaml")
    assert freq.budget == Budget(trials=16, workers=2, timeout_s=None, max_failed=4)
    assert freq.budget_for("gpu").trials == 64 and freq.budget_for("cpu") == freq.budget
    assert freq.profile == "auto" and freq.task == "vit" and freq.seeds == (0,)


def test_defaults_and_short_forms(tmp_path):
    f = _write(
        tmp_path,
        "generator: {name: visualatom}\nsearch: {orbits: {low: 1, high: 50}}\n",
        "my-study.yaml",
    )
    spec = load_study_config(f)
    assert spec.study == "my-study" and spec.question == ""
    assert spec.objectives == (("headline", "maximize"),)
    assert spec.sampler == {"name": "tpe", "options": {}}
    assert spec.pruner == {"name": "none", "options": {}}
    assert spec.budget == Budget(trials=20, workers=1, timeout_s=None, max_failed=5)
    assert spec.seeds == (0,) and spec.profile == "auto"
    (p,) = spec.search
    assert p.type == "int_range" and p.targets == ("orbits",)  # type from the target's schema
    f = _write(
        tmp_path,
        "generator: {name: visualatom}\n"
        "search: {orbits: {low: 1, high: 50}}\n"
        "objectives:\n  - {metric: knn_mean, direction: maximize}\n"
        "  - time_total_s: minimize\n"
        "sampler: {name: nsga2, options: {population_size: 4}}\n"
        "storage: some/dir/x.log\n",
        "two.yaml",
    )
    spec = load_study_config(f)
    assert spec.objectives == (("knn_mean", "maximize"), ("time_total_s", "minimize"))
    assert spec.sampler == {"name": "nsga2", "options": {"population_size": 4}}
    assert spec.storage == f"journal://{Path.cwd() / 'some/dir/x.log'}"
    assert load_study_config(f, storage="x.db").storage == f"sqlite:///{Path.cwd() / 'x.db'}"


# --------------------------------------------------------------------------------- corpus
# (id, file text, line, key path, message regex). Every one must raise a one-line SweepError
# "bad.yaml:LINE: KEY.PATH: MESSAGE".
CORPUS = [
    (
        "type-typo",
        _base(L6="    type: int_rnage"),
        6,
        "search.freq.type",
        r"unknown type 'int_rnage' \(did you mean 'int_range'\?\)",
    ),
    (
        "min-gt-max",
        _base(L7="    low: 20", L8="    high: 2"),
        7,
        "search.freq.low",
        r"low 20 > high 2; write low <= high",
    ),
    ("float-for-int", _base(L7="    low: 1.5"), 7, "search.freq.low", r"expected an integer"),
    (
        "string-bound",
        _base(L8="    high: lots"),
        8,
        "search.freq.high",
        r"expected an integer, got 'lots'",
    ),
    (
        "unknown-top-key",
        _base(L13="objective:"),
        13,
        "objective",
        r"unknown key \(did you mean 'objectives'\?\)",
    ),
    (
        "unknown-search-key",
        _base(L8="    hihg: 20"),
        8,
        "search.freq.hihg",
        r"unknown key \(did you mean 'high'\?\)",
    ),
    (
        "unknown-sampler",
        _base(L15="sampler: tpee"),
        15,
        "sampler",
        r"unknown sampler 'tpee' \(did you mean 'tpe'\?\)",
    ),
    (
        "unknown-sampler-name",
        _base(L15="sampler: {name: randon, options: {}}"),
        15,
        "sampler.name",
        r"unknown sampler 'randon' \(did you mean 'random'\?\)",
    ),
    (
        "unknown-sampler-option",
        _base(L15="sampler: {name: tpe, options: {n_startup_trial: 3}}"),
        15,
        "sampler.options.n_startup_trial",
        r"not an option of sampler 'tpe' \(did you mean 'n_startup_trials'\?\)",
    ),
    (
        "sampler-option-type",
        _base(L15="sampler: {name: tpe, options: {multivariate: 'yes'}}"),
        15,
        "sampler.options.multivariate",
        r"expected bool",
    ),
    (
        "sampler-seed-option",
        _base(L15="sampler: {name: random, options: {seed: 3}}"),
        15,
        "sampler.options.seed",
        r"set by the sweep engine",
    ),
    (
        "unknown-pruner",
        _base(L16="pruner: medain"),
        16,
        "pruner",
        r"unknown pruner 'medain' \(did you mean 'median'\?\)",
    ),
    (
        "unknown-target",
        _base(L10="    targets: [freq1, frq2]"),
        10,
        "search.freq.targets.1",
        r"'frq2' is not a parameter of generator 'visualatom' \(did you mean 'freq2'\?\)",
    ),
    (
        "unknown-default-target",
        _base(L5="  frequency:", L10="    step: 1"),
        5,
        "search.frequency",
        r"'frequency' is not a parameter of generator 'visualatom'",
    ),
    (
        "unknown-recipe-target",
        _base(L6="    type: int", L9="    step: 1", L10="    targets: [recipe.pretrain_epoch]"),
        10,
        "search.freq.targets.0",
        r"\(did you mean 'recipe.pretrain_epochs'\?\)",
    ),
    (
        "recipe-target-value",
        _base(L6="    type: int", L9="    step: 1", L10="    targets: [recipe.pretrain_epochs]"),
        7,
        "search.freq.low",
        r"target recipe.pretrain_epochs: must be positive, got 0",
    ),
    (
        "out-of-domain",
        _base(L5="  orbits:", L7="    low: 0", L9="    step: 1", L10="    targets: [orbits]"),
        7,
        "search.orbits.low",
        r"target orbits: 0 is outside the valid domain \[1, 10000\]",
    ),
    (
        "type-mismatch",
        _base(
            L5="  amp:", L6="    type: int_range", L9="    step: 1", L10="    targets: [amplitude]"
        ),
        10,
        "search.amp.targets.0",
        r"a int_range parameter cannot set 'amplitude', which is float",
    ),
    (
        "empty-search",
        "generator: {name: visualatom}\nsearch: {}\n",
        2,
        "search",
        r"empty search space",
    ),
    ("no-search", "study: x\ngenerator: {name: visualatom}\n", 1, "search", r"empty search space"),
    (
        "negative-budget",
        _base(L17="budget: {trials: -3}"),
        17,
        "budget.trials",
        r"expected a positive integer \(trials to run\), got -3",
    ),
    (
        "zero-workers",
        _base(L17="budget: {workers: 0}"),
        17,
        "budget.workers",
        r"expected a positive integer \(worker processes\), got 0",
    ),
    (
        "negative-timeout",
        _base(L17="budget: {timeout_s: -1}"),
        17,
        "budget.timeout_s",
        r"positive number of seconds",
    ),
    (
        "unknown-budget-key",
        _base(L17="budget: {trails: 3}"),
        17,
        "budget.trails",
        r"unknown key \(did you mean 'trials'\?\)",
    ),
    (
        "profile-budget",
        _base(L17="profiles: {gpu: {budget: {max_failed: 0}}}"),
        17,
        "profiles.gpu.budget.max_failed",
        r"expected a positive integer",
    ),
    (
        "bad-direction",
        _base(L14="  - headline: maximise"),
        14,
        "objectives.0.headline",
        r"direction 'maximise' \(did you mean 'maximize'\?\): use maximize or minimize",
    ),
    (
        "empty-objectives",
        _base(L13="objectives: []", L14="seeds: [0]"),
        13,
        "objectives",
        r"empty: name at least one metric",
    ),
    (
        "empty-metric",
        _base(L14="  - {metric: '', direction: maximize}"),
        14,
        "objectives.0.metric",
        r"a metric name is a non-empty string",
    ),
    (
        "objective-key-typo",
        _base(L14="  - {metrc: headline, direction: maximize}"),
        14,
        "objectives.0.metrc",
        r"unknown key \(did you mean 'metric'\?\)",
    ),
    (
        "grid-unbounded-float",
        _base(
            L5="  noise:",
            L6="    type: float_range",
            L8="    high: 4",
            L9="    min_width: 0",
            L10="    targets: [noise]",
            L15="sampler: grid",
        ),
        5,
        "search.noise",
        r"the grid sampler needs a finite set of values: give this float parameter a step",
    ),
    (
        "two-metrics-one-item",
        _base(L14="  - {headline: maximize, time_total_s: minimize}"),
        14,
        "objectives.0",
        r"one metric per list item",
    ),
    (
        "cmaes-multi-objective",
        BASE.replace("sampler: tpe", "sampler: cmaes").replace(
            "  - headline: maximize", "  - headline: maximize\n  - time_total_s: minimize"
        ),
        16,
        "sampler",
        r"the cmaes sampler handles one objective",
    ),
    (
        "pruner-with-two-objectives",
        BASE.replace("pruner: none", "pruner: median").replace(
            "  - headline: maximize", "  - headline: maximize\n  - time_total_s: minimize"
        ),
        17,
        "pruner",
        r"pruning works for single-objective studies only; set pruner: none",
    ),
    (
        "duplicate-param",
        BASE.replace("proxy:", "  freq:\n    type: int\nproxy:"),
        11,
        "search.freq",
        r"duplicate key \(first written at line 5\)",
    ),
    (
        "same-target-twice",
        BASE.replace(
            "proxy:",
            "  band:\n    type: int_range\n    low: 0\n    high: 5\n    targets: [freq2]\nproxy:",
        ),
        15,
        "search.band.targets.0",
        r"'freq2' is already searched by search.freq",
    ),
    (
        "degenerate-band",
        _base(L9="    step: 1"),
        5,
        "search.freq",
        r"freq=\[\d+, \d+\] gives an invalid configuration \(cpu profile\): "
        r"freq2: .* set min_width",
    ),
    (
        "log-nonpositive",
        _base(
            L5="  vertices:", L7="    low: 0", L9="    log: true", L10="    targets: [vertices]"
        ),
        7,
        "search.vertices.low",
        r"log: true needs low > 0",
    ),
    (
        "step-not-dividing",
        _base(L9="    step: 3"),
        9,
        "search.freq.step",
        r"high - low = 20 is not a multiple of step 3",
    ),
    (
        "min-width-too-big",
        _base(L9="    min_width: 30"),
        9,
        "search.freq.min_width",
        r"must be in \[0, high - low\] = \[0, 20\], got 30",
    ),
    (
        "categorical-no-choices",
        _base(L6="    type: categorical", L7="    # low", L8="    #", L9="    #"),
        5,
        "search.freq",
        r"a categorical parameter needs a non-empty list of choices",
    ),
    (
        "bad-storage-scheme",
        _base(L17="storage: mysql://me:hunter2@db.example/x"),
        17,
        "storage",
        r"'mysql://me:\*\*\*@db.example/x': mysql is not supported",
    ),
    (
        "bad-storage-path",
        _base(L17="storage: runs/studies.txt"),
        17,
        "storage",
        r"cannot tell the storage kind of 'runs/studies.txt'",
    ),
    (
        "bad-study-name",
        _base(L1="study: my study/1"),
        1,
        "study",
        r"expected a name of letters, digits",
    ),
    (
        "unknown-task",
        _base(L12="  task: vitt"),
        12,
        "proxy.task",
        r"unknown proxy task 'vitt' \(did you mean 'vit'\?\)",
    ),
    (
        "negative-seed",
        _base(L17="seeds: [0, -1]"),
        17,
        "seeds",
        r"expected a list of non-negative integers",
    ),
    (
        "bad-fixed-param",
        _base(L3="  name: visualatom\n  params: {orbitz: [1, 5]}"),
        4,
        "generator.params.orbitz",
        r"did you mean 'orbits'",
    ),
    ("invalid-yaml", "generator: [\n", 2, "", r"invalid YAML"),
]


@pytest.mark.parametrize(
    ("text", "line", "keys", "match"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_malformed_files_raise_one_line_errors_with_file_line_and_key(
    tmp_path, text, line, keys, match
):
    f = _write(tmp_path, text)
    with pytest.raises(SweepError) as info:
        load_study_config(f)
    msg = str(info.value)
    assert "\n" not in msg
    prefix = f"{f}:{line}: {keys}: " if keys else f"{f}:{line}: "
    assert msg.startswith(prefix), msg
    assert re.search(match, msg), msg
    assert "hunter2" not in msg


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


def test_unreadable_missing_and_directory_files(tmp_path):
    with pytest.raises(SweepError, match=r"nope\.yaml: no such file"):
        load_study_config(tmp_path / "nope.yaml")
    (tmp_path / "adir.yaml").mkdir()
    with pytest.raises(SweepError, match=r"adir\.yaml: no such file"):
        load_study_config(tmp_path / "adir.yaml")
    f = tmp_path / "binary.yaml"
    f.write_bytes(b"generator: \xff\xfe\x00\n")
    with pytest.raises(SweepError, match=r"binary\.yaml:1: cannot read the file: not UTF-8"):
        load_study_config(f)


def test_storage_override_is_validated_and_masked(tmp_path):
    f = _write(tmp_path, BASE, "ok.yaml")
    with pytest.raises(SweepError) as info:
        load_study_config(f, storage="postgresql://me:s3cret@/nodb")
    msg = str(info.value)
    assert msg.startswith("--storage: ") and "s3cret" not in msg and "me:***@" in msg
    with pytest.raises(SweepError, match=r"--storage: .*in-memory"):
        load_study_config(f, storage="sqlite:///:memory:")
    with pytest.raises(SweepError, match=r"unsupported storage scheme 'postgre' \(did you mean"):
        load_study_config(f, storage="postgre://h/db")


def _cli_has(command: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "sweep", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    return re.search(rf"\b{command}\b", out) is not None


def test_sweep_trial_rejects_malformed_files_exit_2_one_line(tmp_path):
    """The existing ``sweep trial`` command: exit 2, one stderr line, nothing run or written."""
    cases = {"unknown-top-key": None, "duplicate-param": None, "unknown-search-key": None}
    procs = {}
    for cid, text, line, keys, _ in CORPUS:
        if cid in cases:
            d = tmp_path / cid
            d.mkdir()
            f = _write(d, text)
            cases[cid] = (d, f"{f}:{line}: {keys}: ")
            procs[cid] = subprocess.Popen(
                [sys.executable, "-m", "sweep", "trial", str(f), "--profile", "cpu"],
                cwd=d,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
    for cid, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        d, prefix = cases[cid]
        lines = err.strip().splitlines()
        assert proc.returncode == 2 and out == "", (cid, err)
        assert len(lines) == 1 and lines[0].startswith("sweep: error: " + prefix), (cid, err)
        assert sorted(p.name for p in d.iterdir()) == ["bad.yaml"]


def test_sweep_validate_reports_each_bad_file_on_one_line(tmp_path):
    if not _cli_has("validate"):
        pytest.skip("'sweep validate' is not registered yet")
    ids = (
        "unknown-sampler",
        "negative-budget",
        "grid-unbounded-float",
        "pruner-with-two-objectives",
        "bad-storage-scheme",
    )
    chosen = [c for c in CORPUS if c[0] in ids]
    files, prefixes = [], []
    for cid, text, line, keys, _ in chosen:
        f = _write(tmp_path, text, f"{cid}.yaml")
        files.append(str(f))
        prefixes.append(f"sweep: error: {f}:{line}: {keys}: ")
    good = str(ROOT / "search_spaces" / "freq.yaml")
    res = subprocess.run(
        [sys.executable, "-m", "sweep", "validate", good, *files],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == len(chosen), res.stderr
    for ln, prefix in zip(lines, prefixes, strict=True):
        assert ln.startswith(prefix), (ln, prefix)
    assert "hunter2" not in res.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "sweep", "validate", *map(str, SPACES)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr


# --------------------------------------------------------------------------------- suggest
RICH = """\
generator:
  name: visualatom
search:
  freq: {type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}
  orbits: {type: int_range, low: 1, high: 300, log: true}
  radius: {type: float_range, low: 5.0, high: 80.0}
  noise: {type: float_range, low: 0.5, high: 8.0, log: true}
  amplitude: {type: float, low: 0.05, high: 2.0, log: true}
  start_pos: {type: int, low: 0, high: 512, step: 64}
  grey: {type: categorical, choices: [[0, 255], [64, 255], [128, 255]]}
  epochs: {type: int, low: 1, high: 12, targets: [recipe.pretrain_epochs]}
objectives:
  - headline: maximize
"""

GRID = """\
generator:
  name: visualatom
search:
  freq: {type: int_range, low: 0, high: 4, min_width: 1, targets: [freq1, freq2]}
  noise: {type: float_range, low: 0.0, high: 2.0, step: 1.0}
  amplitude: {type: float, low: 0.25, high: 0.75, step: 0.25}
  grey: {type: categorical, choices: [[0, 255], [128, 255]]}
sampler: grid
"""


def _objective(spec, seen):
    gen_cls = generator_class(spec.generator)

    def objective(trial):
        gen, rec, values = suggest(trial, spec, profile="cpu")
        seen.append((dict(trial.distributions), gen, rec, values))
        gen_cls(gen, image_size=16)  # every suggestion is a valid generator configuration
        score = sum(
            v[1] - v[0]
            if isinstance(v, list) and len(v) == 2 and isinstance(v[0], int | float)
            else 0
            for v in values.values()
        )
        return (score, -score) if spec.multi_objective else score

    return objective


def _check_values(spec, values, gen, rec):
    by_name = {p.name: p for p in spec.search}
    for name, v in values.items():
        p = by_name[name]
        if p.type == "categorical":
            assert v in [list(c) if isinstance(c, tuple) else c for c in p.choices]
        elif p.is_range:
            lo, hi = v
            assert p.low <= lo <= hi <= p.high, (name, v)
            assert hi - lo >= p.min_width, (name, v)
            assert isinstance(lo, int) and isinstance(hi, int) if p.is_int else True
        else:
            assert p.low <= v <= p.high, (name, v)
            if p.step:
                assert abs((v - p.low) / p.step - round((v - p.low) / p.step)) < 1e-9
        for t in p.targets:
            got = rec[t[7:]] if t.startswith("recipe.") else gen[t]
            assert got == v, (t, got, v)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_suggest_ranges_in_bounds_and_static_space_for_every_sampler(tmp_path, sampler):
    if sampler == "cmaes" and not HAS_CMAES:
        f = _write(tmp_path, RICH + "sampler: cmaes\n", "cma.yaml")
        with pytest.raises(SweepError, match=r"cma\.yaml:\d+: sampler: .*pip install cmaes"):
            load_study_config(f)
        pytest.skip("the cmaes package is not installed")
    text = GRID if sampler == "grid" else RICH + f"sampler: {sampler}\n"
    if sampler in ("nsga2", "nsga3"):
        text = text.replace(
            "  - headline: maximize", "  - headline: maximize\n  - time_total_s: minimize"
        )
        text = text.replace(
            f"sampler: {sampler}", f"sampler: {{name: {sampler}, options: {{population_size: 6}}}}"
        )
    if sampler == "gp":  # GP fits are the slow part: fewer dimensions, same checks
        for name in ("grey", "radius", "orbits", "start_pos", "noise"):
            text = text.replace(f"  {name}:", f"  # {name}:")
    spec = load_study_config(_write(tmp_path, text, "space.yaml"))
    study = optuna.create_study(
        directions=spec.directions, sampler=make_sampler(spec, seed=3), pruner=make_pruner(spec)
    )
    seen: list = []
    n = min(30, grid_size(spec)) if sampler == "grid" else 30
    study.optimize(_objective(spec, seen), n_trials=n)
    assert len(seen) == n
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    expected = search_space(spec)
    for dists, gen, rec, values in seen:
        assert dists == expected  # static: the same distributions in every trial
        _check_values(spec, values, gen, rec)
    # attrs can be rebuilt from the stored trial parameters
    for t, (_, _, _, values) in zip(study.trials, seen, strict=True):
        assert values_from_params(spec, t.params) == values
    pairs = {tuple(v["freq"]) for *_, v in seen}
    assert len(pairs) > 3  # the pair really varies


def test_grid_enumerates_every_pair_and_each_type(tmp_path):
    spec_text = GRID.replace("  noise:", "  # noise:").replace("  amplitude:", "  # amplitude:")
    spec = load_study_config(_write(tmp_path, spec_text, "g.yaml"))
    study = optuna.create_study(sampler=make_sampler(spec, seed=0))
    seen: list = []
    study.optimize(_objective(spec, seen), n_trials=grid_size(spec))
    pairs = {tuple(v["freq"]) for *_, v in seen}
    assert pairs == {(a, b) for a in range(4) for b in range(a + 1, 5)}  # every band, min_width 1
    assert {tuple(v["grey"]) for *_, v in seen} == {(0, 255), (128, 255)}


def test_range_construction_is_min_plus_span(tmp_path):
    spec = load_study_config(_write(tmp_path, RICH, "r.yaml"))
    p = {q.name: q for q in spec.search}
    assert p["freq"].value({"freq.min": 5, "freq.span": 0.0}) == [5, 6]  # min_width 1
    assert p["freq"].value({"freq.min": 5, "freq.span": 1.0}) == [5, 20]
    assert p["freq"].value({"freq.min": 19, "freq.span": 0.37}) == [19, 20]
    assert p["radius"].value({"radius.min": 20.0, "radius.span": 0.5}) == [20.0, 50.0]
    lo, hi = p["noise"].value({"noise.min": 1.0, "noise.span": 0.5})  # log: geometric
    assert lo == 1.0 and hi == pytest.approx(8.0**0.5)
    assert set(p["freq"].distributions()) == {"freq.min", "freq.span"}
    assert p["freq"].distributions()["freq.min"].high == 19


# --------------------------------------------------------------------------------- storage
def test_sqlite_storage_is_wal_with_heartbeat(tmp_path):
    db = tmp_path / "sub" / "studies.db"
    storage = make_storage(f"sqlite:///{db}")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    con.close()
    assert storage.heartbeat_interval == 10 and storage.grace_period == 30
    assert isinstance(
        storage.heartbeat_stale_trial_callback, optuna.storages.RetryHeartbeatStaleTrialCallback
    )
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    again = make_storage(str(db), heartbeat=False)  # a bare .db path is a SQLite file too
    assert again.heartbeat_interval is None
    assert len(optuna.load_study(study_name="s", storage=again).trials) == 2


def test_journal_file_storage_round_trips_a_study(tmp_path):
    url = f"journal://{tmp_path / 'j' / 'study.log'}"
    study = optuna.create_study(
        study_name="j", storage=make_storage(url), directions=["maximize", "minimize"]
    )
    study.optimize(lambda t: (t.suggest_int("n", 0, 9), t.suggest_float("x", 0, 1)), n_trials=3)
    study.set_user_attr("hash", "abc")
    loaded = optuna.load_study(
        study_name="j", storage=make_storage(str(tmp_path / "j" / "study.log"))
    )
    assert [t.params for t in loaded.trials] == [t.params for t in study.trials]
    assert loaded.user_attrs == {"hash": "abc"} and loaded.directions == study.directions


def test_bad_storage_urls_mask_the_password(tmp_path):
    for url in (
        "postgresql+psycopg://alice:hunter2@127.0.0.1:1/db",  # no driver or no server
        "mysql://alice:hunter2@host/db",
        "sqlite://relative.db",
        "postgresql://alice:hunter2@host:notaport/db",
    ):
        with pytest.raises(SweepError) as info:
            make_storage(url)
        msg = str(info.value)
        assert "hunter2" not in msg and ("alice:***@" in msg or "alice" not in url), msg
        assert "\n" not in msg
    (tmp_path / "d.db").mkdir()
    with pytest.raises(SweepError, match="is a directory"):
        make_storage(str(tmp_path / "d.db"))


def test_mask_url_and_normalize(tmp_path, monkeypatch):
    assert (
        mask_url("postgresql+psycopg://u:p@ss@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    )
    assert (
        mask_url("postgresql://h/db?user=u&password=x1") == "postgresql://h/db?user=u&password=***"
    )
    assert mask_url("sqlite:////a/b.db") == "sqlite:////a/b.db"
    monkeypatch.chdir(tmp_path)
    assert normalize_storage("runs/a.db") == f"sqlite:///{tmp_path / 'runs/a.db'}"
    assert normalize_storage("sqlite:///rel.sqlite") == f"sqlite:///{tmp_path / 'rel.sqlite'}"
    assert normalize_storage("a.jsonl") == f"journal://{tmp_path / 'a.jsonl'}"
    assert normalize_storage("journal:///abs/x.log") == "journal:///abs/x.log"
    assert default_storage("s") == f"sqlite:///{tmp_path / 'runs' / 'studies.db'}"
    url = "postgresql+psycopg://u:pw@db.example:5432/optuna"
    assert normalize_storage(url) == url


# --------------------------------------------------------------------------------- hash
def test_space_hash_tracks_what_is_searched_not_how(tmp_path):
    def h(text, name="h.yaml", **kw):
        return load_study_config(_write(tmp_path, text, name), **kw).space_hash("cpu")

    base = h(BASE)
    assert h(BASE, "other-name.yaml") == base
    assert h(_base(L8="    high: 19")) != base  # a searched range
    assert h(_base(L3="  name: visualatom\n  params: {orbits: [1, 50]}")) != base  # fixed param
    assert h(_base(L3="  name: visualatom\n  params: {freq1: [0, 3]}")) == base  # searched: moot
    assert h(_base(L14="  - headline: minimize")) != base
    assert h(BASE + "seeds: [0, 1]\n") != base
    assert h(_base(L12="  task: vit\n  recipe: {pretrain_epochs: 3}")) != base  # recipe
    assert h(_base(L17="budget: {trials: 99, workers: 2, max_failed: 1}")) == base
    assert h(_base(L17="profiles: {gpu: {budget: {trials: 999}}}")) == base
    assert h(_base(L15="sampler: {name: tpe, options: {n_startup_trials: 2}}")) == base
    assert h(_base(L15="sampler: random")) == base
    assert h(_base(L16="pruner: median")) == base
    assert h(BASE + "storage: elsewhere.log\n") == base
    assert h(BASE, storage=str(tmp_path / "x.db")) == base
    spec = load_study_config(_write(tmp_path, BASE))
    assert spec.space_hash("cpu") != spec.space_hash("gpu")  # another recipe preset


def test_pruner_and_sampler_objects(tmp_path):
    d = tmp_path
    spec = load_study_config(
        _write(d, _base(L16="pruner: {name: median, options: {n_startup_trials: 2}}"))
    )
    assert isinstance(make_pruner(spec), optuna.pruners.MedianPruner)
    assert isinstance(make_sampler(spec, 1), optuna.samplers.TPESampler)
    for name, cls in (
        ("none", optuna.pruners.NopPruner),
        ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
    ):
        spec = load_study_config(_write(d, _base(L16=f"pruner: {name}")))
        assert isinstance(make_pruner(spec), cls)
    spec = load_study_config(_write(d, _base(L15="sampler: qmc")))
    assert isinstance(make_sampler(spec, 1), optuna.samplers.QMCSampler)
    assert set(PARAM_TYPES) == {"int", "float", "categorical", "int_range", "float_range"}
