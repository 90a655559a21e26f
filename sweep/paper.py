"""Published results as the proxy's external check: do the proxy's decisions between configurations
agree with the published table's?

The published numbers ship with the package (``sweep/published/visualatom_cifar100.json``:
VisualAtom's CIFAR-100 fine-tuning accuracies, ViT-Tiny, 1k classes, with their source):
:func:`published_table` reads one table, ``freq`` (VisualAtom's frequency-band ablation) or
``families`` (VisualAtom, RCDB, ExFractalDB, FractalDB; scratch as the ``baseline``).

:func:`paper_check` (a stored study) and :func:`check` (its records and resolved config) set the
proxy's paired differences beside the published ones:

* **Which table applies**, from the study's stored config (``sweep:config``): ``families`` when
  the study searches the generator itself (a family study), a row per family by its name;
  ``freq`` when the study's generator is VisualAtom and it searches ``freq1`` or ``freq2``, a
  row per configuration whose resolved ``freq1`` and ``freq2`` (the generator's published values
  with the searched ones over them) equal the row's bands, or one of the row's ``drawn_as``
  stand-ins (a published row the generator cannot draw as written: ``[20, 20]``, see the data
  file). A row that several configurations match (another parameter is searched too) takes the
  one with the most seeds; configurations no row matches are listed under ``unmatched``. The
  other fixed parameters of the study are not compared: they are the study's own. No check
  (None) when no table applies or no completed configuration stands for any of its rows.
* **Per row**: the proxy's mean of the study's first objective over every seed of its
  configuration (search, reference, published and confirmation trials alike), and its seeds.
* **Per pair of rows** (table order, ``a`` before ``b``): the published gap ``a - b`` in points;
  the proxy's paired difference ``a - b`` on the seeds both configurations ran
  (:func:`sweep.paired.paired`), its interval at ``1 - alpha / m`` (Bonferroni over the ``m``
  pairs that have at least 2 common seeds; ``alpha`` = 0.05), the decision of that interval at
  the study's ``smallest_effect`` delta (:func:`sweep.paired.decide`), and the outcome
  (:func:`outcome`):

  - ``same``: the proxy decides the pair the published way: an interval that excludes 0 on the
    published side (``difference``, or ``negligible`` where the published gap is at least
    delta); or, where the published gap is below delta (the paper's two rows are equivalent at
    the smallest effect that matters), ``equivalent`` or ``negligible`` in either direction, or a
    ``difference`` on the published side;
  - ``contradicted``: a decided outcome against the published one: an interval that excludes 0
    on the other side, a ``difference`` where the published gap is 0, or ``equivalent`` where the
    published gap is at least delta (the proxy rules out a difference the paper found);
  - ``undecided``: the interval contains 0 and reaches beyond +-delta (more paired seeds);
  - ``not measured``: fewer than 2 common seeds.

  "Better" follows the objective's direction (a minimised metric's lower value is the published
  higher accuracy). The published gaps and delta are compared as they are (points of accuracy):
  the full-scale protocol need not match the proxy's effect sizes, only its decisions.
* **The baseline** (``families``: scratch): each row against the model without pre-training on
  the same seeds (``scratch_<metric>``), the same rules, its own Bonferroni family.
* **The summary**: the outcome counts over the pairs; the same counts over the pairs whose
  published gap is at least :data:`LARGE_GAP` points (``large``: how many of the differences
  that clearly matter in the paper the proxy decides); the baseline's; and Spearman's rho of the
  proxy's row means with the published numbers (:func:`sweep.stats.spearman_value`, with ``n``).

:func:`paper_line` is the one line ``sweep status`` prints.

Imports: the standard library, :mod:`sweep.record`, :mod:`sweep.errors`, :mod:`sweep.values`,
:mod:`sweep.paired`, :mod:`sweep.stats` and :mod:`sweep.answer.data`.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sweep import record
from sweep.answer.data import StudyData, collect, label
from sweep.errors import unknown
from sweep.paired import (
    DEFAULT_SMALLEST_EFFECT,
    DIFFERENCE,
    EQUIVALENT,
    NEGLIGIBLE,
    UNDECIDED,
    decide,
    paired,
)
from sweep.stats import spearman_value
from sweep.values import jsonable

#: the data file of published numbers (shipped as package data)
DATA_FILE = Path(__file__).with_name("published") / "visualatom_cifar100.json"
#: the family-wise error rate of a table's pairs (Bonferroni over the measured pairs)
ALPHA = 0.05
#: published gaps of at least this many points count as "large" in the summary
LARGE_GAP = 2.0
#: the outcomes of a pair (see the module doc)
OUTCOMES = ("same", "undecided", "contradicted", "not measured")
SAME, UNSETTLED, CONTRADICTED, NOT_MEASURED = OUTCOMES


# ----------------------------------------------------------------------------- the data file
@functools.cache
def _data_text() -> str:
    return DATA_FILE.read_text(encoding="utf-8")


def published_data() -> dict[str, Any]:
    """The whole data file: ``about``, ``source`` and ``tables`` (a fresh copy)."""
    data: dict[str, Any] = json.loads(_data_text())
    return data


def table_names() -> list[str]:
    """The published tables, in file order."""
    return list(published_data()["tables"])


def published_table(name: str) -> dict[str, Any]:
    """Table ``name`` of the data file, with the file's ``source`` and ``name`` added;
    :class:`SweepError` for an unknown name."""
    data = published_data()
    tables = data["tables"]
    if name not in tables:
        raise unknown("published table", name, tables)
    return {"name": name, **tables[name], "source": data["source"]}


# ----------------------------------------------------------------------------- matching
def family_entry(cfg: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The search entry that picks the generator (a family study), if any."""
    for e in cfg.get("search") or []:
        if "generator" in (e.get("targets") or ()):
            return e
    return None


def applicable(cfg: Mapping[str, Any]) -> str | None:
    """The name of the first published table that applies to a study's resolved config."""
    fam = family_entry(cfg)
    generator = (cfg.get("generator") or {}).get("name")
    searched = {t for e in cfg.get("search") or [] for t in e.get("targets") or ()}
    for name, table in published_data()["tables"].items():
        if table.get("search_target") == "generator" and fam is not None:
            return str(name)
        if (
            fam is None
            and table.get("generator") == generator
            and searched & set(table.get("params") or ())
        ):
            return str(name)
    return None


def generator_values(cfg: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration's generator parameters: the study's resolved fixed values with the
    searched ``params`` over them (recipe and proxy targets left out)."""
    gen = cfg.get("generator") or {}
    out = dict(gen.get("resolved") or gen.get("params") or {})
    for e in cfg.get("search") or []:
        if e.get("name") not in params:
            continue
        for t in e.get("targets") or [e["name"]]:
            if t != "generator" and not t.startswith(("recipe.", "proxy.")):
                out[t] = params[e["name"]]
    return jsonable(out)


def row_index(
    table: Mapping[str, Any], cfg: Mapping[str, Any], params: Mapping[str, Any]
) -> int | None:
    """The row of ``table`` a configuration (its searched ``params``) stands for, if any."""
    rows = table["rows"]
    if table.get("search_target") == "generator":
        fam = family_entry(cfg)
        value = params.get(fam["name"]) if fam is not None else None
        return next((i for i, r in enumerate(rows) if r.get("family") == value), None)
    values = generator_values(cfg, params)
    keys = list(table.get("params") or ())
    mine = {k: values.get(k) for k in keys}
    for i, r in enumerate(rows):
        for want in [r["params"], *(r.get("drawn_as") or [])]:
            if jsonable({k: want.get(k) for k in keys}) == mine:
                return i
    return None


def stand_in(
    table: Mapping[str, Any], i: int, cfg: Mapping[str, Any], params: Mapping[str, Any]
) -> bool:
    """Whether the configuration matched row ``i`` through a ``drawn_as`` stand-in."""
    r = table["rows"][i]
    if "params" not in r:
        return False
    values = generator_values(cfg, params)
    return any(values.get(k) != jsonable(v) for k, v in r["params"].items())


# ----------------------------------------------------------------------------- outcomes
def outcome(gap: float, decision: str | None, diff: float | None, delta: float) -> str:
    """The outcome of one pair (see the module doc): ``gap`` the published ``a - b``,
    ``decision`` the proxy's (:func:`sweep.paired.decide`; None: not measured), ``diff`` its
    paired ``a - b`` with positive meaning ``a`` is better, ``delta`` the smallest effect."""
    if decision is None or diff is None:
        return NOT_MEASURED
    if decision == UNDECIDED:
        return UNSETTLED
    matters = abs(gap) >= delta
    if decision == EQUIVALENT:
        return CONTRADICTED if matters else SAME
    if decision == NEGLIGIBLE and not matters:
        return SAME
    if decision not in (DIFFERENCE, NEGLIGIBLE):
        raise ValueError(f"unknown decision {decision!r}")
    return SAME if gap != 0 and (diff > 0) == (gap > 0) else CONTRADICTED


def counts(pairs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{pairs, same, undecided, contradicted, not_measured, decided}`` of some pairs."""
    out: dict[str, Any] = {"pairs": len(pairs)}
    for o in OUTCOMES:
        out[o.replace(" ", "_")] = sum(p["outcome"] == o for p in pairs)
    out["decided"] = out[SAME] + out[CONTRADICTED]
    return out


def _compare(
    jobs: Sequence[tuple[dict[str, Any], Mapping[int, float] | None, Mapping[int, float] | None]],
    sign: float,
    delta: float,
) -> tuple[int, float | None]:
    """Fill each ``(pair, a's values, b's values)`` with the proxy's paired comparison at the
    Bonferroni level over the pairs with >= 2 common seeds; ``(m, level)``."""
    common = [
        sorted(set(a) & set(b)) if a is not None and b is not None else [] for _, a, b in jobs
    ]
    m = sum(len(c) >= 2 for c in common)
    level = 1 - ALPHA / m if m else None
    for (pair, a, b), seeds in zip(jobs, common, strict=True):
        cmp = paired(a, b, seeds, level) if level and a is not None and b is not None else None
        pair.update(seeds=len(seeds), diff=None, ci=None, ci95=None, p=None, decision=None)
        if cmp is not None:
            pair.update(
                diff=cmp["diff"],
                ci=cmp["ci"],
                ci95=cmp["ci95"],
                p=cmp["p"],
                decision=decide(cmp["ci"], delta),
            )
        better = sign * pair["diff"] if pair["diff"] is not None else None
        pair["outcome"] = outcome(pair["published_diff"], pair["decision"], better, delta)
    return m, level


# ----------------------------------------------------------------------------- the check
def check(
    records: Sequence[record.TrialRecord], cfg: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The paper check of a study's records and resolved config (``sweep:config``); None when
    no published table applies or none of its rows was run (see the module doc)."""
    if not cfg or (name := applicable(cfg)) is None:
        return None
    table = published_table(name)
    objectives = cfg.get("objectives") or [{"metric": record.HEADLINE, "direction": "maximize"}]
    o = objectives[0]
    metric, direction = (o["metric"], o["direction"]) if isinstance(o, Mapping) else o
    sign = -1.0 if direction == "minimize" else 1.0
    delta = float(cfg.get("smallest_effect") or DEFAULT_SMALLEST_EFFECT)
    data = collect(records, metric)
    rows, unmatched = _rows(table, cfg, data)
    if all(r["config"] is None for r in rows):  # no configuration stands for a row
        return None
    pairs = []
    jobs = []
    for a, b in itertools.combinations(rows, 2):
        pair = {
            "a": a["name"],
            "b": b["name"],
            "published_diff": round(a["published"] - b["published"], 6),
        }
        pairs.append(pair)
        jobs.append((pair, data.values.get(a["config"] or ""), data.values.get(b["config"] or "")))
    m, level = _compare(jobs, sign, delta)
    baseline = table.get("baseline")
    base_pairs: list[dict[str, Any]] = []
    base_m, base_level = 0, None
    if baseline is not None:
        jobs = []
        for r in rows:
            pair = {
                "a": r["name"],
                "b": baseline["name"],
                "published_diff": round(r["published"] - baseline["value"], 6),
            }
            base_pairs.append(pair)
            jobs.append((pair, data.values.get(r["config"] or ""), data.scratch or None))
        base_m, base_level = _compare(jobs, sign, delta)
    measured = [r for r in rows if r["mean"] is not None]
    rho = spearman_value([r["published"] for r in measured], [sign * r["mean"] for r in measured])
    large = [p for p in pairs if abs(p["published_diff"]) >= LARGE_GAP]
    summary = {
        **counts(pairs),
        "large": {"threshold": LARGE_GAP, **counts(large)},
        "baseline": counts(base_pairs) if baseline is not None else None,
        "spearman": {"rho": rho, "n": len(measured)},
    }
    scratch = None
    if baseline is not None:
        sc = list(data.scratch.values())
        scratch = {
            "name": baseline["name"],
            "published": baseline["value"],
            "mean": sum(sc) / len(sc) if sc else None,
            "seeds": len(sc),
        }
    return jsonable(
        {
            "table": name,
            "title": table.get("title"),
            "source": table["source"],
            "published_row": table.get("published_row"),
            "metric": metric,
            "direction": direction,
            "smallest_effect": delta,
            "alpha": ALPHA,
            "adjustment": "bonferroni",
            "m": m,
            "level": level,
            "rows": rows,
            "pairs": pairs,
            "baseline": scratch,
            "baseline_m": base_m,
            "baseline_level": base_level,
            "baseline_pairs": base_pairs,
            "summary": summary,
            "unmatched": unmatched,
        },
        nan_to_none=True,
    )


def _rows(
    table: Mapping[str, Any], cfg: Mapping[str, Any], data: StudyData
) -> tuple[list[dict[str, Any]], list[str]]:
    """The table's rows with the configuration each stands for (the one with the most seeds),
    and the labels of the configurations no row matches."""
    matched: dict[int, list[str]] = {}
    unmatched = []
    params_of = {k: dict(t[0].params) for k, t in data.trials.items() if t}
    for k, params in sorted(params_of.items()):
        i = row_index(table, cfg, params)
        if i is None:
            unmatched.append(label(params, k))
        else:
            matched.setdefault(i, []).append(k)
    rows = []
    for i, r in enumerate(table["rows"]):
        keys = sorted(matched.get(i, []), key=lambda k: -len(data.values.get(k, {})))
        key = keys[0] if keys else None
        vals = data.values.get(key, {}) if key is not None else {}
        rows.append(
            {
                "name": r["name"],
                "published": r["value"],
                "note": r.get("note"),
                "config": key,
                "label": label(params_of[key], key) if key is not None else None,
                "stand_in": stand_in(table, i, cfg, params_of[key]) if key is not None else False,
                "arms": sorted(data.arms.get(key, ())) if key is not None else [],
                "mean": sum(vals.values()) / len(vals) if vals else None,
                "seeds": len(vals),
                "others": keys[1:],
            }
        )
    return rows, unmatched


def paper_check(study: Any) -> dict[str, Any] | None:
    """:func:`check` of a stored study (its records and ``sweep:config``)."""
    cfg = study.user_attrs.get(record.STUDY_CONFIG)
    if not cfg:
        return None
    return check(record.records(study), cfg)


# ----------------------------------------------------------------------------- text
def paper_line(p: Mapping[str, Any]) -> str:
    """``paper check (freq): 4 same, 2 undecided, 0 contradicted of 15 pairs (...); Spearman
    0.71 (n=6)``: what ``sweep status`` prints for a check."""
    s = p["summary"]
    parts = f"{s['same']} same, {s['undecided']} undecided, {s['contradicted']} contradicted"
    if s["not_measured"]:
        parts += f", {s['not_measured']} not measured"
    text = f"paper check ({p['table']}): {parts} of {s['pairs']} pairs"
    big = s["large"]
    if big["pairs"]:
        text += (
            f" (published gap >= {big['threshold']:g} points: {big['decided']} of "
            f"{big['pairs']} decided)"
        )
    base = s.get("baseline")
    if base and base["pairs"]:
        text += f"; against scratch: {base['same']} of {base['pairs']} same"
    rho = s["spearman"]["rho"]
    rho_text = "n/a" if rho is None or not math.isfinite(rho) else f"{rho:.2f}"
    return f"{text}; Spearman {rho_text} (n={s['spearman']['n']})"


__all__ = [
    "ALPHA",
    "DATA_FILE",
    "LARGE_GAP",
    "OUTCOMES",
    "applicable",
    "check",
    "outcome",
    "paper_check",
    "paper_line",
    "published_table",
    "table_names",
]
