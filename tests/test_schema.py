"""The study file's schema (sweep.schema): hostile YAML, structured errors, frozen typed models and
the shipped JSON Schema."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import pydantic
import pytest

from sweep.schema.document import load_study_file
from sweep.schema.errors import KINDS, SchemaError
from sweep.schema.jsonschema import SCHEMA_FILE, study_json_schema, study_json_schema_text
from sweep.schema.yamlfile import MAX_DEPTH, load_yaml
from sweep.study_config import load_study_config

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "search_spaces").glob("*.yaml"))

#: the classic "billion laughs" (about 400 bytes): 9 levels of 9 aliases, 9^9 strings once expanded
LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""
GOOD = """\
study: t
generator:
  name: visualatom
search:
  freq: {type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}
budget: {trials: 4}
"""


def _one_line_refusal(run_sweep, tmp_path: Path, text: str, *needles: str) -> float:
    """``sweep validate`` on ``text``: exit 2, one stderr line naming the file; its seconds."""
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    t0 = time.perf_counter()
    res = run_sweep("validate", str(f), cwd=tmp_path, timeout=60)
    seconds = time.perf_counter() - t0
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"sweep: error: {f}:"), res.stderr[-2000:]
    assert "Traceback" not in res.stderr and res.stdout == ""
    for needle in needles:
        assert needle in lines[0], lines[0]
    return seconds


def _good_seconds(run_sweep, tmp_path: Path) -> float:
    """Seconds of ``sweep validate`` on a good file in this run: what a refusal is measured
    against (a loaded machine slows both; an absolute bound failed on one, issue 14 item 20)."""
    f = tmp_path / "good.yaml"
    f.write_text(GOOD)
    t0 = time.perf_counter()
    res = run_sweep("validate", str(f), cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- hostile YAML
def test_alias_bomb_is_refused_fast_on_one_line(tmp_path, run_sweep):
    assert len(LAUGHS.encode()) < 420 and LAUGHS.count("*") == 72
    seconds = _one_line_refusal(run_sweep, tmp_path, LAUGHS, "aliases expanded")
    assert seconds < 3 * _good_seconds(run_sweep, tmp_path) + 2  # (before: minutes)
    with pytest.raises(SchemaError) as e:
        load_yaml(tmp_path / "bad.yaml")
    assert e.value.kind == "yaml" and e.value.line <= 9


def test_small_aliases_still_work(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(
        GOOD + "profiles:\n  cpu: {budget: &b {trials: 3, workers: 2}}\n  gpu: {budget: *b}\n"
    )
    spec = load_study_config(f)
    assert spec.budget_for("gpu") == spec.budget_for("cpu") != spec.budget


def test_python_tags_are_refused_and_never_run(tmp_path, run_sweep):
    _one_line_refusal(
        run_sweep,
        tmp_path,
        GOOD + "question: !!python/name:os.system\n",
        "bad.yaml:7: question: ",
        "!!python/name:os.system",
    )
    marker = tmp_path / "pwned"
    text = GOOD + f"question: !!python/object/apply:os.system ['touch {marker}']\n"
    _one_line_refusal(run_sweep, tmp_path, text, "explicit YAML tags are not accepted")
    assert not marker.exists()
    _one_line_refusal(run_sweep, tmp_path, GOOD + "question: !custom x\n", "!custom")


def test_deep_nesting_is_refused_fast_on_one_line(tmp_path, run_sweep):
    text = GOOD + "question: " + "[" * 5000 + "]" * 5000 + "\n"
    seconds = _one_line_refusal(run_sweep, tmp_path, text, "bad.yaml:7: ")
    assert seconds < 3 * _good_seconds(run_sweep, tmp_path) + 2  # (before: 34 s)
    (tmp_path / "deep.yaml").write_text("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(SchemaError, match=f"nesting deeper than {MAX_DEPTH} levels") as e:
        load_yaml(tmp_path / "deep.yaml")
    assert e.value.kind == "yaml"


def test_recursive_and_undefined_aliases_are_refused(tmp_path):
    for text, message in (
        ("a: &x [1, *x]\n", "inside its own anchor"),
        ("a: *nope\n", "undefined alias 'nope'"),
        ("a: 1\n---\nb: 2\n", "but found another document"),
    ):
        f = tmp_path / "a.yaml"
        f.write_text(text)
        with pytest.raises(SchemaError, match=message) as e:
            load_yaml(f)
        assert e.value.kind == "yaml" and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- structured errors
@pytest.mark.parametrize(
    ("text", "line", "path", "kind"),
    [
        (GOOD.replace("budget:", "budgte:"), 6, ("budgte",), "unknown_key"),
        (GOOD.replace("{trials: 4}", "{trials: four}"), 6, ("budget", "trials"), "type"),
        (GOOD + "search: {}\n", 7, ("search",), "duplicate_key"),
        ("study: t\nproxy: {}\n", 1, (), "missing"),
        (GOOD.replace("low: 0", "low: 30"), 5, ("search", "freq", "low"), "value"),
        (
            GOOD + "sampler: {name: tpe, options: {n_startup: 3}}\n",
            7,
            ("sampler", "options", "n_startup"),
            "unknown_key",
        ),
        (
            GOOD + "objectives:\n  - headline: maximise\n",
            8,
            ("objectives", 0, "headline"),
            "value",
        ),
        ("generator: [\n", 2, (), "yaml"),
    ],
)
def test_errors_carry_file_line_key_path_and_kind(tmp_path, text, line, path, kind):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SchemaError) as info:
        load_study_config(f)
    e = info.value
    assert (e.file, e.line, e.path, e.kind) == (str(f), line, path, kind), str(e)
    assert e.kind in KINDS
    dotted = ".".join(map(str, path))
    assert str(e) == (f"{f}:{line}: {dotted}: {e.message}" if path else f"{f}:{line}: {e.message}")
    again = pickle.loads(pickle.dumps(e))  # worker processes send errors back
    assert str(again) == str(e) and again.path == e.path


def test_unknown_names_say_did_you_mean(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(GOOD.replace("name: visualatom", "name: visualatm"))
    with pytest.raises(SchemaError, match=r"did you mean 'visualatom'\?") as e:
        load_study_file(f)
    assert e.value.path == ("generator", "name") and e.value.line == 3
    f.write_text(GOOD + "proxy: {recipe: {pretrain_epoch: 3}}\n")
    with pytest.raises(SchemaError, match=r"unknown recipe field \(did you mean") as e:
        load_study_file(f)
    assert e.value.path == ("proxy", "recipe", "pretrain_epoch") and e.value.kind == "unknown_key"


# ----------------------------------------------------------------------------- typed models
def test_typed_models_are_frozen(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(GOOD + "proxy: {recipe: {pretrain_epochs: 3}}\n")
    doc = load_study_file(f)
    cases = [
        (doc, "study", "other"),
        (doc.generator, "name", "rcdb"),
        (doc.budget, "trials", 9),
        (doc.proxy.recipe, "pretrain_epochs", 5),
        (doc.search["freq"], "low", 1),
    ]
    for model, field, value in cases:
        with pytest.raises(pydantic.ValidationError, match="frozen"):
            setattr(model, field, value)
    assert doc.budget is not None and doc.budget.trials == 4
    assert doc.recipe_overrides("cpu") == {"pretrain_epochs": 3}
    assert doc.source.line(("search", "freq")) == 5


def test_every_shipped_file_reads_into_the_typed_models():
    for path in SPACES:
        doc = load_study_file(path)
        assert doc.generator.name and doc.search, path
        assert (doc.calibration is not None) == ("\ncalibration:" in path.read_text())


# ----------------------------------------------------------------------------- JSON Schema
def test_shipped_json_schema_is_current(tmp_path, run_sweep):
    assert SCHEMA_FILE.read_text() == study_json_schema_text(), (
        "sweep/schema/study.schema.json is stale: regenerate it with "
        "'sweep schema > sweep/schema/study.schema.json'"
    )
    res = run_sweep("schema", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == SCHEMA_FILE.read_text()
    schema = json.loads(res.stdout)
    assert schema["additionalProperties"] is False and "generator" in schema["required"]
    assert "description" in schema["properties"]["search"]


def test_shipped_files_validate_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")  # not a dependency
    schema = study_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in SPACES:
        data, _ = load_yaml(path)
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, (path.name, errors)
    data, _ = load_yaml(SPACES[0])
    data["budgte"] = 1
    assert not validator.is_valid(data)
