"""Published results as the proxy's external check (``sweep.paper``): the data file and its
source, the outcome of each pair (same / undecided / contradicted / not measured) on hand-made
records, an end-to-end launch of ``search_spaces/paper_freq.yaml`` on the free ``analytic`` proxy
whose ``sweep status --json`` carries the ``paper`` block, and the report section."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest
import tomllib
import yaml

from sweep import record
from sweep.errors import SweepError
from sweep.paper import (
    DATA_FILE,
    check,
    outcome,
    paper_check,
    paper_line,
    published_table,
    table_names,
)
from sweep.record import TrialRecord

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEEDS = list(range(8))
FREQ_CFG = {
    "generator": {
        "name": "visualatom",
        "params": {},
        "resolved": {"freq1": [0, 20], "freq2": [0, 20], "orbits": [1, 200]},
    },
    "search": [{"name": "freq", "type": "int_range", "targets": ["freq1", "freq2"]}],
    "objectives": [{"metric": "headline", "direction": "maximize"}],
    "smallest_effect": 1.0,
}
FAMILY_CFG = {
    "generator": {"name": "visualatom", "params": {}, "resolved": {}},
    "search": [{"name": "family", "type": "categorical", "targets": ["generator"]}],
    "objectives": [{"metric": "headline", "direction": "maximize"}],
    "smallest_effect": 1.0,
}


def rec(
    number: int,
    params: dict,
    values: dict[int, float],
    arm: str = "search",
    scratch: dict[int, float] | None = None,
) -> TrialRecord:
    """A COMPLETE trial of ``params`` with per-seed headlines ``values``."""
    per_seed = {
        str(s): {"headline": v, **({"scratch_headline": scratch[s]} if scratch else {})}
        for s, v in values.items()
    }
    attrs = {
        record.PER_SEED: per_seed,
        record.SEEDS: sorted(values),
        record.ARM: arm,
        record.CONFIG_KEY: record.config_key(params),
    }
    mean = sum(values.values()) / len(values)
    return TrialRecord(
        number=number,
        state="COMPLETE",
        values=(mean,),
        params=params,
        metrics={"headline": mean},
        attrs=attrs,
    )


def shared(k: int) -> float:
    """A lucky seed lifts every arm: the per-seed term the pairs cancel."""
    return 0.5 * k


def freq_records() -> list[TrialRecord]:
    """Six bands, planted so each outcome occurs (published order: [0, 20] 84.9, [0, 40]
    84.3, [0, 60] 84.1, [2, 20] 84.8, [10, 20] 84.4, [20, 20] 83.6)."""
    alt = [(-1) ** k for k in SEEDS]
    return [
        rec(0, {"freq": [0, 20]}, {k: 80 + shared(k) for k in SEEDS}, "published"),
        rec(1, {"freq": [0, 40]}, {k: 78 + shared(k) for k in SEEDS}),  # 2 below [0, 20]
        rec(2, {"freq": [0, 60]}, {k: 83 + shared(k) for k in SEEDS}),  # 3 above [0, 20]
        rec(3, {"freq": [2, 20]}, {k: 80 + shared(k) + 5 * alt[k] for k in SEEDS}),  # noisy
        rec(4, {"freq": [10, 20]}, {100: 90.0, 101: 91.0}),  # on no common seed
        rec(5, {"freq": [19, 20]}, {k: 78 + shared(k) + 0.1 * alt[k] for k in SEEDS}),
    ]


def by_pair(p: dict) -> dict[tuple[str, str], dict]:
    return {(q["a"], q["b"]): q for q in p["pairs"]}


# ----------------------------------------------------------------------------- the data file
def test_the_data_file_loads_names_its_source_and_ships_with_the_package():
    assert table_names() == ["freq", "families"]
    freq = published_table("freq")
    assert [(r["name"], r["value"]) for r in freq["rows"]] == [
        ("[0, 20]", 84.9),
        ("[0, 40]", 84.3),
        ("[0, 60]", 84.1),
        ("[2, 20]", 84.8),
        ("[10, 20]", 84.4),
        ("[20, 20]", 83.6),
    ]
    assert freq["published_row"] == "[0, 20]"
    src = freq["source"]
    assert "Visual Atoms" in src["paper"] and "CVPR 2023" in src["paper"]
    assert src["arxiv"] == "2303.01112" and "CIFAR-100" in src["protocol"]
    last = freq["rows"][-1]  # [20, 20]: not drawable; says how it is represented, and why
    assert {"freq1": [19, 20], "freq2": [19, 20]} in last["drawn_as"] and "n2 != n1" in last[
        "note"
    ]
    fam = published_table("families")
    assert {r["family"]: r["value"] for r in fam["rows"]} == {
        "visualatom": 84.9,
        "rcdb": 82.2,
        "exfractaldb": 81.8,
        "fractaldb": 81.6,
    }
    assert fam["baseline"] == {"name": "scratch", "value": 57.7}
    with pytest.raises(SweepError, match=r"unknown published table 'freqs'.*freq"):
        published_table("freqs")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["sweep"]
    rel = DATA_FILE.relative_to(ROOT / "sweep").as_posix()
    assert any(fnmatch(rel, g) for g in globs), globs


# ----------------------------------------------------------------------------- outcomes
@pytest.mark.parametrize(
    ("gap", "decision", "diff", "want"),
    [
        (0.6, "difference", 2.0, "same"),  # decided in the published direction
        (0.6, "difference", -2.0, "contradicted"),  # decided against it
        (1.3, "negligible", 0.5, "same"),  # real, in the published direction
        (1.3, "negligible", -0.5, "contradicted"),
        (1.3, "equivalent", 0.1, "contradicted"),  # rules out a gap the paper found
        (0.2, "equivalent", -0.1, "same"),  # both below the smallest effect
        (0.2, "negligible", -0.3, "same"),
        (0.0, "difference", 2.0, "contradicted"),  # the paper's tie, decided
        (0.6, "undecided", 3.0, "undecided"),
        (0.6, None, None, "not measured"),
    ],
)
def test_outcome_rules(gap, decision, diff, want):
    assert outcome(gap, decision, diff, 1.0) == want


def test_outcomes_of_hand_made_records():
    p = check(freq_records(), FREQ_CFG)
    assert p is not None and p["table"] == "freq" and p["adjustment"] == "bonferroni"
    rows = {r["name"]: r for r in p["rows"]}
    assert rows["[20, 20]"]["label"] == "[19, 20]" and rows["[20, 20]"]["stand_in"]
    assert not rows["[0, 20]"]["stand_in"] and rows["[0, 20]"]["arms"] == ["published"]
    assert rows["[10, 20]"]["seeds"] == 2 and rows["[0, 40]"]["seeds"] == 8
    pairs = by_pair(p)
    assert len(pairs) == 15
    same = pairs[("[0, 20]", "[0, 40]")]
    assert same["published_diff"] == 0.6 and same["diff"] == pytest.approx(2.0)
    assert same["decision"] == "difference" and same["outcome"] == "same"
    assert pairs[("[0, 20]", "[0, 60]")]["outcome"] == "contradicted"  # proxy: [0, 60] better
    assert pairs[("[0, 20]", "[2, 20]")]["outcome"] == "undecided"
    assert pairs[("[0, 20]", "[10, 20]")]["outcome"] == "not measured"
    assert pairs[("[0, 20]", "[10, 20]")]["ci"] is None
    assert pairs[("[0, 20]", "[20, 20]")]["outcome"] == "same"  # +2 against published +1.3
    eq = pairs[("[0, 40]", "[20, 20]")]  # published 0.7 < delta, proxy within +-1
    assert eq["decision"] == "equivalent" and eq["outcome"] == "same"
    # Bonferroni over the 10 measured pairs (the 5 of [10, 20] have no common seed)
    assert p["m"] == 10 and p["level"] == pytest.approx(1 - 0.05 / 10)
    assert all(q["ci"][0] <= q["ci95"][0] for q in p["pairs"] if q["ci"])
    s = p["summary"]
    assert s["pairs"] == 15 and s["not_measured"] == 5
    assert s["same"] + s["undecided"] + s["contradicted"] + s["not_measured"] == 15
    assert s["decided"] == s["same"] + s["contradicted"]
    assert s["large"]["pairs"] == 0 and s["baseline"] is None  # no freq gap reaches 2 points
    assert s["spearman"]["n"] == 6 and -1 <= s["spearman"]["rho"] <= 1
    line = paper_line(p)
    assert line.startswith(f"paper check (freq): {s['same']} same, {s['undecided']} undecided")
    assert "5 not measured of 15 pairs" in line and line.endswith("(n=6)")
    # A minimised objective turns "better" around: [0, 20] 2 points higher is now worse.
    flipped = check(
        freq_records(),
        {**FREQ_CFG, "objectives": [{"metric": "headline", "direction": "minimize"}]},
    )
    assert flipped is not None
    assert by_pair(flipped)[("[0, 20]", "[0, 40]")]["outcome"] == "contradicted"
    assert by_pair(flipped)[("[0, 20]", "[0, 60]")]["outcome"] == "same"


def test_families_pairs_large_gaps_and_the_scratch_baseline():
    scratch = {k: 50 + shared(k) for k in SEEDS}
    fractal = {k: 66.2 + shared(k) + 0.05 * (-1) ** k for k in SEEDS}
    recs = [
        rec(0, {"family": "visualatom"}, {k: 70 + shared(k) for k in SEEDS}, "published", scratch),
        rec(1, {"family": "rcdb"}, {k: 66 + shared(k) for k in SEEDS}, "reference:rcdb", scratch),
        rec(2, {"family": "fractaldb"}, fractal, "reference:fractaldb", scratch),
        rec(3, {"family": "1p-frac"}, {k: 60 + shared(k) for k in SEEDS}, "search", scratch),
    ]
    p = check(recs, FAMILY_CFG)
    assert p is not None and p["table"] == "families"
    assert p["unmatched"] == ["1p-frac"]  # not in the published table
    rows = {r["name"]: r for r in p["rows"]}
    assert rows["exfractaldb"]["mean"] is None and rows["exfractaldb"]["seeds"] == 0
    pairs = by_pair(p)
    assert pairs[("visualatom", "rcdb")]["outcome"] == "same"  # 2.7 points published, 4 proxy
    assert pairs[("visualatom", "fractaldb")]["outcome"] == "same"
    assert pairs[("rcdb", "fractaldb")]["outcome"] == "same"  # 0.6 published: negligible
    assert pairs[("rcdb", "exfractaldb")]["outcome"] == "not measured"
    large = p["summary"]["large"]  # visualatom against the three others
    assert large["pairs"] == 3 and large["decided"] == 2 and large["not_measured"] == 1
    assert p["baseline"]["name"] == "scratch" and p["baseline"]["seeds"] == 8
    base = {q["a"]: q for q in p["baseline_pairs"]}
    assert base["visualatom"]["published_diff"] == pytest.approx(27.2)
    assert base["visualatom"]["outcome"] == "same" and base["exfractaldb"]["seeds"] == 0
    assert p["summary"]["baseline"]["same"] == 3 and p["baseline_m"] == 3
    assert "against scratch: 3 of 4 same" in paper_line(p)


def test_no_table_applies_to_other_studies():
    other = {**FREQ_CFG, "search": [{"name": "q", "targets": ["vertices"]}]}
    assert check(freq_records(), other) is None
    rcdb = {**FREQ_CFG, "generator": {"name": "rcdb", "params": {}, "resolved": {}}}
    assert check(freq_records(), rcdb) is None
    assert check(freq_records(), None) is None


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def paper_study(tmp_path_factory):
    """search_spaces/paper_freq.yaml on the analytic proxy (milliseconds a trial)."""
    import optuna

    from sweep.engine import run
    from sweep.storage import make_storage

    tmp = tmp_path_factory.mktemp("paper")
    spec = yaml.safe_load((ROOT / "search_spaces" / "paper_freq.yaml").read_text())
    spec.update(
        study="pf",
        storage=str(tmp / "studies.db"),
        smallest_effect=0.05,
        proxy={
            "task": "analytic",
            "profile": "cpu",
            "options": {"noise": 0.05, "shared_noise": 1.0},
        },
    )
    spec["budget"]["workers"] = 1
    f = tmp / "pf.yaml"
    f.write_text(yaml.safe_dump(spec, sort_keys=False))
    run(str(f), device="cpu", progress=False, quiet=True, cache_dir=None)
    url = str(tmp / "studies.db")
    return url, optuna.load_study(study_name="pf", storage=make_storage(url, heartbeat=False))


def test_paper_freq_launch_gives_status_a_paper_block(paper_study):
    from sweep.engine.commands import status, status_text

    url, study = paper_study
    done = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert len(done) == 6  # the six rows, no search trial, no confirmation
    st = json.loads(status_text("pf", url, as_json=True))
    p = st["paper"]
    assert p == json.loads(json.dumps(status("pf", url)["paper"]))
    assert p["table"] == "freq" and p["smallest_effect"] == 0.05
    assert [r["seeds"] for r in p["rows"]] == [16] * 6  # every row on the 16 paired seeds
    rows = {r["name"]: r for r in p["rows"]}
    assert rows["[0, 20]"]["arms"] == ["published"]
    assert rows["[20, 20]"]["arms"] == ["reference:band-20-20"] and rows["[20, 20]"]["stand_in"]
    assert all(q["seeds"] == 16 and q["outcome"] != "not measured" for q in p["pairs"])
    assert p["m"] == 15 and p["summary"]["spearman"]["n"] == 6
    assert p == paper_check(study)
    text = status_text("pf", url)
    assert re.search(
        r"^paper check \(freq\): \d+ same, \d+ undecided, \d+ contradicted of 15 "
        r"pairs; Spearman (-?\d\.\d\d|n/a) \(n=6\)$",
        text,
        re.M,
    )
    assert text.splitlines()[-1].startswith("answer: ")  # the answer stays last


def test_the_report_section_renders(paper_study):
    from reports.sections import ORDER, REGISTRY, Page
    from reports.templating import render

    assert ORDER.index("paper") == ORDER.index("answer") + 1
    _, study = paper_study
    sec = REGISTRY.get("paper")
    assert not sec.applies(Page({"paper": None}, {}))
    page = Page({"paper": paper_check(study)}, {})
    assert sec.applies(page)
    html = str(render(sec.template, page=page, **sec.context(page)))
    assert "Visual Atoms" in html and "2303.01112" in html
    assert html.count('<tr data-outcome="') == 15
    assert "[19, 20]" in html and "stands in" in html
    assert re.search(
        r'<span class="verdict-word" style="background:#[0-9a-f]{3,6}">'
        r"(same|undecided|contradicted)</span>",
        html,
    )
    assert "Spearman" in html and "(n=6)" in html


def test_report_data_carries_the_check():
    """The report's data hook (``reports.data``) passes the check to the section."""
    from reports.data import ReportData

    assert "paper" in ReportData.__annotations__


def test_no_check_before_any_row_is_run():
    """A study of the table's generator and parameters whose configurations stand for no row
    (or that completed nothing) has no check: nothing to set beside the paper."""
    assert check([rec(0, {"freq": [0, 8]}, {0: 1.0, 1: 2.0})], FREQ_CFG) is None
    assert check([], FREQ_CFG) is None
    one = check([rec(0, {"freq": [0, 20]}, {0: 1.0, 1: 2.0})], FREQ_CFG)
    assert one is not None and one["summary"]["not_measured"] == 15 and one["m"] == 0
    assert "Spearman n/a (n=1)" in paper_line(one)
