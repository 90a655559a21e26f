"""Range pairs in the report: the (min, max) plane with the impossible half greyed out, the
first objective against the band's width (with the reference arms as lines), the published
configuration marked, the resolved names everywhere (Optuna's internal ``<name>.span`` only in
its one explanation), and no such section for a study without range pairs.

The studies are written by hand in memory (trials with the attributes the engine writes: the
Optuna raw values ``freq.min``/``freq.span``, the resolved ``param:freq``, arms, per-seed values
and scratch), so these tests need no training and start no worker."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweep import record
from sweep.space import ParamSpec
from sweep.study_config import to_raw

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

FREQ = {
    "name": "freq",
    "type": "int_range",
    "low": 0,
    "high": 20,
    "min_width": 1,
    "targets": ["freq1", "freq2"],
}
SCALE = {"name": "scale", "type": "float", "low": 0.1, "high": 1.0, "targets": ["scale"]}
PUBLISHED = [0, 20]
#: (freq, scale, headline) of the search trials
SEARCH = [
    ([2, 5], 0.3, 50.0),
    ([0, 1], 0.5, 47.5),
    ([4, 18], 0.7, 53.0),
    ([10, 12], 0.2, 49.0),
    ([1, 20], 0.9, 54.0),
    ([6, 9], 0.4, 48.5),
]


def spec(entry: dict) -> ParamSpec:
    keys = ("name", "type", "low", "high", "min_width")
    return ParamSpec(**{k: entry[k] for k in keys if k in entry})


def add(
    study,
    search: list[dict],
    values: dict,
    headline: float,
    arm: str | None = None,
    seeds: tuple[int, ...] = (0,),
    state: TrialState = TrialState.COMPLETE,
) -> None:
    """One trial as the engine writes it: Optuna's raw values, the resolved ``param:*``."""
    params: dict = {}
    dists: dict = {}
    for e in search:
        p = spec(e)
        params.update(to_raw(p, values[e["name"]]))
        dists.update(p.distributions())
    per_seed = {str(s): {"headline": headline, record.SCRATCH_METRIC: 40.0 + s % 2} for s in seeds}
    attrs = {
        "headline": headline,
        record.SEEDS: list(seeds),
        record.PER_SEED: per_seed,
        **{record.param_attr(k): v for k, v in values.items()},
    }
    if arm is not None:
        attrs[record.ARM] = arm
    done = state == TrialState.COMPLETE
    study.add_trial(
        create_trial(
            state=state,
            params=params,
            distributions=dists,
            value=headline if done else None,
            user_attrs=attrs,
        )
    )


def make_study(search: list[dict]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["headline"])
    study.set_user_attr(record.STUDY_CONFIG, {"search": search, "generator": {"name": "toy"}})
    study.set_user_attr(record.STUDY_QUESTION, "does a wider band help (range test)?")
    names = [e["name"] for e in search]
    for freq, scale, h in SEARCH:
        add(study, search, {k: v for k, v in (("freq", freq), ("scale", scale)) if k in names}, h)
    pub = {k: v for k, v in (("freq", PUBLISHED), ("scale", 0.5)) if k in names}
    add(study, search, pub, 51.0, arm=record.ARM_PUBLISHED, seeds=(100, 101))
    # a pruned trial is not a point
    add(
        study,
        search,
        {k: v for k, v in (("freq", [3, 4]), ("scale", 0.5)) if k in names},
        0.0,
        state=TrialState.PRUNED,
    )
    return study


@pytest.fixture(scope="module")
def report():
    from reports import figures, render_html, report_data

    study = make_study([FREQ, SCALE])
    data = report_data(study, samples=False)
    figs = figures(data)
    return {"study": study, "data": data, "figs": figs, "page": render_html(data, figs)}


def test_the_plane_holds_the_trials_resolved_bands(report):
    (pair,) = report["data"]["ranges"]["pairs"]
    assert pair["param"] == "freq" and pair["metric"] == "headline"
    assert (pair["low"], pair["high"], pair["min_width"]) == (0, 20, 1)
    want = {n: (f, h) for n, (f, _, h) in enumerate(SEARCH)}
    want[len(SEARCH)] = (PUBLISHED, 51.0)
    got = {p["number"]: ([p["min"], p["max"]], p["value"]) for p in pair["points"]}
    assert got == {n: (f, h) for n, (f, h) in want.items()}  # the pruned trial is left out
    for p in pair["points"]:
        assert p["width"] == p["max"] - p["min"] and p["max"] >= p["min"] + 1
    assert pair["published"] == [len(SEARCH)]
    assert [p["arm"] for p in pair["points"]].count("published") == 1


def test_the_impossible_half_is_exactly_max_below_min_plus_min_width(report):
    from reports.ranges import impossible_polygon

    (pair,) = report["data"]["ranges"]["pairs"]
    poly = pair["impossible"]
    assert poly == [[0, 0], [0, 1], [19, 20], [20, 20], [20, 0]]
    assert poly == impossible_polygon(0, 20, 1)
    assert impossible_polygon(0.5, 2.0, 0) == [[0.5, 0.5], [2.0, 2.0], [2.0, 0.5]]
    # The polygon's area is the square's minus the feasible triangle of side high - low - w.
    xs, ys = np.array(poly).T
    area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
    assert area == pytest.approx(20**2 - 19**2 / 2)
    fig = report["figs"]["range:freq"]
    grey = fig.data[0]
    assert grey.fill == "toself" and grey.name == "impossible: max < min + 1"
    assert [[x, y] for x, y in zip(grey.x, grey.y, strict=True)] == [*poly, poly[0]]
    assert any("impossible" in a.text for a in fig.layout.annotations)
    # Every trial's point is on the feasible side: none inside the grey half.
    search, published = fig.data[1], fig.data[2]
    assert sorted(zip(search.x, search.y, strict=True)) == sorted(
        (f[0], f[1]) for f, _, _ in SEARCH
    )
    assert list(search.marker.color) == [h for _, _, h in SEARCH]
    # One mark for the published arm's seed set, which is the line's here (no confirmation).
    assert published.name == "published: 51 (2 seeds, as the line)"
    assert published.marker.symbol == "diamond" and len(fig.data) == 3
    assert (list(published.x), list(published.y)) == ([PUBLISHED[0]], [PUBLISHED[1]])
    assert list(published.customdata) == [len(SEARCH)]
    assert fig.layout.xaxis.title.text == "freq.min" and fig.layout.yaxis.title.text == "freq.max"


def test_the_width_figure_has_the_headline_and_the_reference_lines(report):
    fig = report["figs"]["range-width:freq"]
    search, published = fig.data[0], fig.data[1]
    assert list(search.x) == [f[1] - f[0] for f, _, _ in SEARCH]
    assert list(search.y) == [h for _, _, h in SEARCH]
    assert (list(published.x), list(published.y)) == ([20], [51.0])
    assert published.name == "published: 51 (2 seeds, as the line)"
    lines = {s.name: s.y0 for s in fig.layout.shapes}
    refs = {r["arm"]: r["value"] for r in report["data"]["references"]["lines"]}
    assert lines == {"reference:published": 51.0, "reference:scratch": refs["scratch"]}
    assert refs["published"] == 51.0
    assert fig.layout.xaxis.title.text == "freq.max − freq.min"


def test_the_page_has_the_section_and_names_span_once(report):
    page = report["page"]
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert "ranges" in ids and ids.index("ranges") < ids.index("importances")
    assert ids[:2] == ["answer", "summary"]
    body = re.search(r'<section id="ranges">(.*?)</section>', page, re.S).group(1)
    assert 'data-trial-click="1"' in body and 'href="#trial-6"' in body
    # Optuna's internal name appears once: in the explanation, nowhere else in the page (the
    # inlined plotly.js aside), not in the figures, the data or the other sections.
    ours = re.sub(r"<script[^>]*>(?!\s*\{).*?</script>", "", page, flags=re.S)
    assert re.findall(r"\w\.span\b", ours) == ["q.span"] and page.count("freq.span") == 1
    assert "freq.span: span, the sampler" in body
    assert "max = min + min_width + span * (high - min - min_width)" in body
    data = json.loads(re.search(r'id="sweep-report-data">(.*?)</script>', page, re.S).group(1))
    assert ".span" not in json.dumps(data)
    for name, fig in report["figs"].items():
        assert isinstance(fig, str) or ".span" not in fig.to_json(), name
    # The columns, importances, parallel coordinates and slice use the resolved names.
    cols = [c["name"] for c in report["data"]["columns"]]
    assert cols == ["freq.min", "freq.max", "scale"]
    for imp in report["data"]["importances"]["by_objective"].values():
        assert set(imp) <= set(cols)


def test_the_span_formula_is_the_samplers():
    """The explanation's formula is :meth:`sweep.space.ParamSpec.range_max` (linear)."""
    p = ParamSpec(name="f", type="float_range", low=0.0, high=10.0, min_width=2.0)
    for lo, span in ((0.0, 0.0), (1.5, 0.25), (3.0, 1.0), (7.0, 0.6)):
        assert p.range_max(lo, span) == pytest.approx(lo + 2.0 + span * (10.0 - lo - 2.0))


def test_the_dashboard_gets_the_figures_and_the_explanation(report):
    from reports import dashboard_figures, dashboard_note

    ids = dashboard_figures(report["figs"])
    assert {"sweep-range-freq", "sweep-range-width-freq"} <= set(ids)
    note = dashboard_note(report["data"], None)
    assert note.count("freq.span") == 1 and "freq.min and freq.max" in note


def test_a_study_without_range_pairs_has_no_range_section():
    from reports import dashboard_note, figures, render_html, report_data

    study = make_study([SCALE])
    data = report_data(study, samples=False)
    figs = figures(data)
    assert data["ranges"] == {"pairs": []}
    assert not any(k.startswith("range") for k in figs)
    page = render_html(data, figs)
    assert '<section id="ranges">' not in page and 'href="#ranges"' not in page
    assert ".span" not in dashboard_note(data, None)


def confirmed_study() -> optuna.Study:
    """The range study plus what a confirmation adds: the published arm on its one search seed
    (60.6, far above its mean), then the published configuration and a candidate on 8 fresh
    common seeds (the published configuration's 8 values average 55.2)."""
    study = make_study([FREQ])
    add(study, [FREQ], {"freq": PUBLISHED}, 60.6, arm=record.ARM_PUBLISHED, seeds=(0,))
    for k, v in enumerate(CONFIRMED):
        add(study, [FREQ], {"freq": PUBLISHED}, v, arm=record.ARM_CONFIRM, seeds=(1000 + k,))
        add(study, [FREQ], {"freq": [1, 20]}, v + 1, arm=record.ARM_CONFIRM, seeds=(1000 + k,))
    return study


#: the published configuration's values on the confirmation's 8 seeds (mean 55.2)
CONFIRMED = [55.0, 56.0, 54.0, 55.5, 55.1, 55.3, 54.9, 55.8]


def test_the_published_mark_is_the_lines_mean_and_other_seed_sets_are_labelled():
    """Issue 22: the published diamond sat at its one search seed (60.6) while the published
    line was its 8-seed mean; the line's labels were hidden under the confirmation squares.
    Now the diamond is the mean over the line's seeds (it sits on the line), the one-seed
    trial is a separate open mark named with its seed, and the lines are named in the legend
    (no text at the line's end, where the widest band's markers sit)."""
    from reports import figures, report_data

    data = report_data(confirmed_study(), samples=False)
    line = next(r for r in data["references"]["lines"] if r["arm"] == "published")
    assert line["source"] == "answer"  # pooled over the common seeds by the answer
    (pair,) = data["ranges"]["pairs"]
    marks = pair["published_marks"]
    assert [m["source"] for m in marks] == ["line", "trial", "trial"]
    assert line["value"] != 60.6 and line["seeds"] > 1
    assert marks[0]["value"] == line["value"] and marks[0]["seeds"] == line["seeds"]
    assert (
        marks[0]["label"] == f"published: {line['value']:.4g} ({line['seeds']} seeds, as the line)"
    )
    one = marks[2]
    assert (one["value"], one["seed_list"], one["trials"]) == (60.6, [0], [len(SEARCH) + 2])
    assert one["label"] == f"published, trial {len(SEARCH) + 2} on seed 0: 60.6"
    assert marks[1]["seed_list"] == [100, 101] and marks[1]["value"] == 51.0
    figs = figures(data)
    for name in ("range:freq", "range-width:freq"):
        fig = figs[name]
        pub = [t for t in fig.data if (t.name or "").startswith("published")]
        pub = [t for t in pub if t.mode == "markers"]
        assert [t.name for t in pub] == [m["label"] for m in marks], name
        assert [t.marker.symbol for t in pub] == ["diamond", "diamond-open", "diamond-open"]
        assert all(t.showlegend is not False for t in pub)
    width = figs["range-width:freq"]
    pub = [t for t in width.data if t.mode == "markers" and t.name.startswith("published")]
    shapes = {s.name: s for s in width.layout.shapes}
    # the filled diamond is ON the published line, at the widest band
    assert list(pub[0].y) == [shapes["reference:published"].y0] and list(pub[0].x) == [20]
    assert list(pub[2].y) == [60.6]
    # every line label is a legend entry (a line trace of the line's colour), none on the line
    assert all(not (s.label.text or "") for s in width.layout.shapes)
    legend = {t.name: t for t in width.data if t.mode == "lines"}
    for ref in data["references"]["lines"]:
        assert legend[ref["label"]].line.dash == shapes[f"reference:{ref['arm']}"].line.dash
    confirm = next(t for t in width.data if t.name == "confirm")
    assert len(confirm.x) == 2 * len(CONFIRMED)  # the per-seed squares are still there
