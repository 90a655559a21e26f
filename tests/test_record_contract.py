"""The record contract covers writers: every key a task or the engine writes (or a reader reads)
is a named constant of :mod:`sweep.record`, never a string typed where it is used.

The check parses (ast) every module of ``sweep``, ``proxy_tasks`` and ``reports`` but
``sweep/record.py`` (where the strings live) and fails, naming ``file:line``, on a string literal
(a plain string, an f-string with literal text, a ``+`` or ``%`` of one) used as a record key:

* the key of ``set_user_attr`` / ``set_system_attr`` (a trial's or a study's);
* a key read from or tested in ``user_attrs`` / ``system_attrs`` (and the usual names of such a
  mapping: ``attrs``, ``trial_attrs``, ``study_attrs``): ``.get(k)``, ``.pop(k)``,
  ``.setdefault(k)``, ``[k]``, ``k in ...``;
* a key of a dict passed as ``user_attrs=`` / ``system_attrs=`` (``study.enqueue_trial``);
* a metric read from a trial record: ``.metric(k)``, ``.per_seed(k)``;
* a metric of a task's result, which becomes a user attribute: a key written to or read from
  a mapping named ``metrics`` (``metrics[k]``, ``metrics.get(k)``, ``{k: ...}`` assigned to
  ``metrics`` or passed as ``metrics=``), and the name a task reports a value under
  (``report(k, step, value)``).

A literal that is legitimately not a record key goes in :data:`ALLOWED`, with why.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from sweep import record

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sweep", "proxy_tasks", "reports")
#: where the record's strings are spelled out: not checked
CONTRACT = "sweep/record.py"

#: mappings of record keys: attribute or variable names
ATTR_MAPS = frozenset({"user_attrs", "system_attrs", "attrs", "trial_attrs", "study_attrs"})
#: mappings of a task's metrics (they become user attributes)
METRIC_MAPS = frozenset({"metrics"})
#: methods whose first argument is a record key
SETTERS = frozenset({"set_user_attr", "set_system_attr"})
#: methods of a mapping whose first argument is a key
LOOKUPS = frozenset({"get", "pop", "setdefault"})
#: methods of a trial record whose first argument is a metric (:class:`sweep.record.TrialRecord`)
RECORD_READERS = frozenset({"metric", "per_seed"})
#: keyword arguments that carry a dict of record keys
ATTR_KWARGS = frozenset({"user_attrs", "system_attrs"})

#: ``(path, literal)`` pairs that are not record keys, each with why. Keep it short: a new
#: entry needs a reason a reviewer would accept.
ALLOWED: dict[tuple[str, str], str] = {
    # The report's view study is built in memory for Optuna's plots and importances, never
    # stored nor read back as a sweep study: its ``number`` attribute labels a view trial with
    # the study trial it shows (Optuna's hover text), not a key of the trial record.
    ("reports/view.py", "number"): "an in-memory view trial's label, not stored",
}


def literal(node: ast.AST | None) -> str | None:
    """The string text of ``node`` when it spells (part of) a key out, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        text = "".join(
            v.value
            for v in node.values
            if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
        return text or None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return literal(node.left) or literal(node.right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return literal(node.func.value)
    return None


def map_kind(node: ast.AST) -> str | None:
    """``attrs`` when ``node`` names a mapping of record keys, ``metrics`` a task's metrics
    (``x.metrics``, ``metrics``, ``x["metrics"]``), else None."""
    if isinstance(node, ast.Attribute):
        name: str | None = node.attr
    elif isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Subscript):
        name = literal(node.slice)
    else:
        name = None
    if name in ATTR_MAPS:
        return "attrs"
    if name in METRIC_MAPS:
        return "metrics"
    return None


def dict_keys(node: ast.AST | None) -> list[ast.AST]:
    return [k for k in node.keys if k is not None] if isinstance(node, ast.Dict) else []


def found(tree: ast.AST) -> list[tuple[int, str, str]]:
    """``(line, literal, what)`` of every literal record key in ``tree``."""
    out: list[tuple[int, str, str]] = []

    def check(node: ast.AST | None, what: str) -> None:
        if node is not None and (text := literal(node)) is not None:
            out.append((node.lineno, text, what))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func, first = node.func, node.args[0] if node.args else None
            if isinstance(func, ast.Attribute):
                if func.attr in SETTERS:
                    check(first, func.attr)
                elif func.attr in LOOKUPS and map_kind(func.value):
                    check(first, f"{map_kind(func.value)}.{func.attr}")
                elif func.attr in RECORD_READERS:
                    check(first, f".{func.attr}()")
                elif func.attr == "update" and map_kind(func.value) == "metrics":
                    for k in dict_keys(first):
                        check(k, "metrics.update")
            if isinstance(func, ast.Name | ast.Attribute):
                name = func.id if isinstance(func, ast.Name) else func.attr
                if name == "report":  # a task's report(name, step, value); Optuna's takes a number
                    check(first, "report")
            for kw in node.keywords:
                if kw.arg in ATTR_KWARGS:
                    for k in dict_keys(kw.value):
                        check(k, f"{kw.arg}=")
                elif kw.arg in METRIC_MAPS:
                    for k in dict_keys(kw.value):
                        check(k, "metrics=")
        elif isinstance(node, ast.Subscript) and map_kind(node.value):
            check(node.slice, f"{map_kind(node.value)}[...]")
        elif isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn) and map_kind(right):
                    check(node.left, f"in {map_kind(right)}")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(map_kind(t) == "metrics" for t in targets):
                for k in dict_keys(node.value):
                    check(k, "metrics = {...}")
    return sorted(out)


def modules() -> list[Path]:
    return sorted(
        p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if p.relative_to(ROOT).as_posix() != CONTRACT
    )


def violations() -> tuple[list[str], set[tuple[str, str]]]:
    """Every literal key not allowed, as ``file:line: ...``; and the allow-list entries used."""
    bad, used = [], set()
    for p in modules():
        rel = p.relative_to(ROOT).as_posix()
        for line, text, what in found(ast.parse(p.read_text(), filename=rel)):
            if (rel, text) in ALLOWED:
                used.add((rel, text))
            else:
                bad.append(f"{rel}:{line}: {what} with the literal key {text!r}")
    return bad, used


def test_every_record_key_is_a_named_constant():
    bad, _ = violations()
    assert not bad, (
        "record keys typed as string literals; name them in sweep/record.py and use the "
        "constant (or, for a literal that is not a record key, add it to ALLOWED with why):\n"
        + "\n".join(bad)
    )


def test_allow_list_is_current():
    _, used = violations()
    assert set(ALLOWED) <= used, f"ALLOWED entries that no longer occur: {set(ALLOWED) - used}"


PLANTED = """
trial.set_user_attr("headline", 1.0)
study.set_system_attr(f"time_{k}", 2)
t.user_attrs.get("sweep:worker")
study.user_attrs["sweep:config"]
x = t.system_attrs.get("fixed_params")
ok = "seeds" in t.user_attrs
study.enqueue_trial({}, user_attrs={"sweep:arm": "published"})
rec.metric("time_scratch_s")
rec.per_seed("headline")
metrics["scratch_headline"] = 2.0
metrics = {"gain_headline": 3.0}
metrics.update({"time_" + k: v})
TrialResult(COMPLETE, metrics={"pretrain_loss": 1.0})
report("pretrain_loss", 1, 0.5)
r["metrics"].get("headline")
"""

CLEAN = """
trial.set_user_attr(record.HEADLINE, 1.0)
study.set_system_attr(record.time_attr(k), 2)
t.user_attrs.get(record.WORKER)
study.user_attrs[record.STUDY_CONFIG]
x = t.system_attrs.get(record.OPTUNA_FIXED_PARAMS)
ok = record.SEEDS in t.user_attrs
study.enqueue_trial({}, user_attrs={record.ARM: record.ARM_PUBLISHED})
rec.metric(record.TIME_SCRATCH)
metrics[f"{name}{record.DOWNSTREAM_SEP}{key}"] = 2.0
metrics = {record.GAIN_HEADLINE: 3.0}
report(record.PRETRAIN_LOSS, 1, 0.5)
trial.report(-value, step)
other = {"not": "a record"}
other["key"] = 1
fixed.get("seeds")
"""


def test_the_check_catches_planted_literals():
    got = found(ast.parse(textwrap.dedent(PLANTED)))
    assert [line for line, _, _ in got] == list(range(2, 2 + len(PLANTED.strip().splitlines())))
    assert not found(ast.parse(textwrap.dedent(CLEAN)))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # the stored strings: studies already written read through them, so they never change
        ("HEADLINE", "headline"),
        ("GAIN_HEADLINE", "gain_headline"),
        ("SCRATCH_METRIC", "scratch_headline"),
        ("PRETRAIN_LOSS", "pretrain_loss"),
        ("TIME_TOTAL", "time_total_s"),
        ("TIME_SCRATCH", "time_scratch_s"),
        ("ERROR", "error"),
        ("ERROR_TYPE", "error_type"),
        ("SEEDS", "seeds"),
        ("DEVICE", "device"),
        ("DATASET", "dataset"),
        ("DATASET_FINGERPRINT", "dataset_fingerprint"),
        ("OPTUNA_RETRY", "failed_trial"),
        ("OPTUNA_FAIL_REASON", "fail_reason"),
        ("OPTUNA_FIXED_PARAMS", "fixed_params"),
        ("WORKER", "sweep:worker"),
        ("PER_SEED", "sweep:per_seed"),
        ("ARM", "sweep:arm"),
    ],
)
def test_stored_strings_are_stable(name, value):
    assert getattr(record, name) == value


def test_derived_names_are_the_stored_ones():
    # what the tasks and the engine wrote before these names existed, string for string
    assert record.time_attr("total_s") == record.TIME_TOTAL
    assert record.time_attr("scratch_s") == record.TIME_SCRATCH
    assert record.time_attr("pretrain_s") == "time_pretrain_s"
    assert record.scratch_attr(record.HEADLINE) == record.SCRATCH_METRIC
    assert record.gain_attr(record.HEADLINE) == record.GAIN_HEADLINE
    assert record.loss_name("pretrain") == record.PRETRAIN_LOSS
    assert record.std_attr(record.HEADLINE) == "headline_std"
    assert record.gain_attr(record.mean_attr(record.KNN)) == "gain_knn_mean"
    assert record.downstream_attr("cifar10", record.scratch_attr(record.FINETUNE)) == (
        "cifar10/scratch_finetune"
    )
    assert record.HEADLINE_KINDS == ("finetune", "linear", "linear_soft", "knn")
    assert record.dataset_value("ab", {"classes": 2}) == {"fingerprint": "ab", "classes": 2}
    assert record.progress_value(1, 3, "pretrain", 12, 20) == {
        "seed": 1,
        "seeds": 3,
        "phase": "pretrain",
        "step": 12,
        "of": 20,
    }
    assert record.fixed_value([5], {"a": 1}, recipe={"x": 2}) == {
        "recipe": {"x": 2},
        "seeds": [5],
        "attrs": {"a": 1},
    }
    assert record.fixed_value([5], {}, recipe={}, data_seed=7) == {
        "recipe": {},
        "seeds": [5],
        "data_seed": 7,
        "attrs": {},
    }
