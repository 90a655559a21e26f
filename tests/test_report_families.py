"""``sweep report`` of a study that searches the generator itself (search_spaces/families.yaml):
its samples section shows every family side by side, one row per family labelled with its name,
each its best completed trial (search and reference arms alike), however the trials rank; a
family whose best trial cannot be drawn again shows its next best, and one that never completed
a trial says why. The study runs on the free ``analytic`` proxy (seconds)."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import cv2
import numpy as np
import optuna
import pytest

from sweep import record

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

CHOICES = ["visualatom", "rcdb", "fractaldb", "exfractaldb", "1p-frac"]

FAMILIES = """\
study: fam
question: Which family pre-trains best (report test)?
generator:
  name: visualatom
  families: {{}}
search:
  family: {{type: categorical, choices: [{choices}], targets: [generator]}}
proxy: {{task: analytic, profile: cpu, options: {{noise: 3.0}}}}
seeds: [0]
objectives: [{{headline: maximize}}]
sampler: random
budget: {{trials: 12, workers: 1}}  # one worker: the same trials every run
references:
{references}confirm: false
storage: {storage}
"""


def decode(b64: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def family_study(tmp_path_factory):
    """A real family study: the published arm (VisualAtom), a reference arm per other family
    and 7 search trials (one worker: the same every run), with seed noise so the families' trials
    interleave in rank."""
    from sweep.engine import run
    from sweep.storage import make_storage

    tmp = tmp_path_factory.mktemp("families")
    refs = "".join(f"  {f}: {{family: {f}}}\n" for f in CHOICES[1:])
    f = tmp / "fam.yaml"
    f.write_text(
        FAMILIES.format(choices=", ".join(CHOICES), references=refs, storage=tmp / "studies.db")
    )
    run(str(f), device="cpu", progress=False, quiet=True, cache_dir=None)
    url = str(tmp / "studies.db")
    study = optuna.load_study(study_name="fam", storage=make_storage(url, heartbeat=False))
    return tmp, study


def family_rows(page: str) -> dict[str, str]:
    """``{family: its row's HTML}`` of the samples section."""
    m = re.search(r'<section id="samples">(.*?)</section>', page, re.S)
    assert m, "no samples section"
    section = m.group(1)
    assert "Samples of each family" in section
    rows = re.findall(r'<div class="srow" data-family="([^"]+)">(.*?)</div>', section, re.S)
    return {html.unescape(f): body for f, body in rows}


def test_every_family_has_a_labelled_row_of_images_in_the_report(family_study, tmp_path):
    from sweep.cli import main

    tmp, study = family_study
    trials = study.get_trials()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 12, [(t.number, t.state.name) for t in trials]
    arms = {record.arm_of(t.user_attrs) for t in done}
    assert {"published", "search"} | {f"reference:{f}" for f in CHOICES[1:]} <= arms
    out = tmp_path / "fam.html"
    code = main(
        ["report", "fam", "--storage", str(tmp / "studies.db"), "-o", str(out), "--no-dashboard"]
    )
    assert code == 0
    page = out.read_text()
    rows = family_rows(page)
    assert sorted(rows) == sorted(CHOICES)  # one row per family, each family once
    for family, body in rows.items():
        assert f"<b>{html.escape(family)}</b>" in body  # labelled with its name
        images = re.findall(
            r'<img alt="trial (\d+) class \d+"[^>]*src="data:image/png;base64,'
            r'([^"]+)"',
            body,
        )
        assert images, f"no image in the row of {family}"
        number = int(images[0][0])
        t = study.trials[number]
        assert t.user_attrs[record.param_attr("family")] == family  # its own family's trial
        assert t.user_attrs["dataset"]["generator"] == family
        img = decode(images[0][1])
        assert img.shape == (96, 96) and img.max() > 0
    # The page's data: the rows are each family's best completed trial that could be drawn,
    # best family first.
    data = json.loads(re.search(r'id="sweep-report-data">(.*?)</script>', page, re.S).group(1))
    sm = data["samples"]
    assert sm["family"] == "family" and sm["reason"] is None
    sign = -1.0  # maximize
    for r in sm["rows"]:
        mine = sorted(
            (t for t in done if t.user_attrs[record.param_attr("family")] == r["family"]),
            key=lambda t: (sign * t.value, t.number),
        )
        assert r["family_trials"] == len(mine)
        if r["note"] is None:
            assert r["number"] == mine[0].number
        else:  # its best could not be drawn again (1p-frac at some seeds): its next best
            assert f"its best trial {mine[0].number} could not be drawn" in r["note"]
            assert r["number"] in [t.number for t in mine[1:]]
    assert all(r["reason"] is None for r in sm["rows"])
    best_first = sorted(done, key=lambda t: (sign * t.value, t.number))
    order = list(dict.fromkeys(t.user_attrs[record.param_attr("family")] for t in best_first))
    assert [r["family"] for r in sm["rows"]] == order  # the best family first


# ----------------------------------------------------------------------------- the guarantee
def _row(number: int, family: str, value: float | None, state: str = "COMPLETE") -> dict:
    return {
        "number": number,
        "state": state,
        "values": None if value is None else [value],
        "params": {"family": family},
        "arm": "search",
    }


def test_one_row_per_family_where_best_worst_and_spread_would_miss_one():
    """20 completed trials, ``rare``'s only one ranked 5th: the best/worst/spread selection
    leaves it out; the rows by family do not, and a family with only failed trials, or with
    none, still has its row saying why."""
    from reports.samples import by_family, select
    from reports.study import ranked

    rows = [_row(i, "common", 100.0 - i) for i in range(20) if i != 4]
    rows.insert(4, _row(4, "rare", 96.0))
    rows += [
        _row(20, "broken", None, "FAILED"),
        _row(21, "broken", None, "FAILED"),
        _row(22, "broken", None, "PRUNED"),
    ]
    objectives = [{"name": "headline", "direction": "maximize"}]
    done = ranked(rows, objectives)  # type: ignore[arg-type]
    picked = {r["params"]["family"] for r, _ in select(done)}
    assert "rare" not in picked  # the generic selection misses it
    out = by_family(rows, done, "family", ["common", "rare", "broken", "unused"])  # type: ignore[arg-type]
    assert [f for f, _, _ in out] == ["common", "rare", "broken", "unused"]
    (_, common, w1), (_, rare, w2), (_, broken, w3), (_, unused, w4) = out
    assert [r["number"] for r in common][:2] == [0, 1] and len(common) == 19 and w1 is None
    assert [r["number"] for r in rare] == [4] and w2 is None
    assert broken == [] and w3 == "no completed trial: 2 failed, 1 pruned"
    assert unused == [] and w4 == "not evaluated: no trial of this family ran"
    # best family first: the order of each family's best trial
    rows2 = [_row(0, "a", 1.0), _row(1, "b", 3.0), _row(2, "a", 2.0)]
    out = by_family(rows2, ranked(rows2, objectives), "family", ["a", "b"])  # type: ignore[arg-type]
    assert [(f, [r["number"] for r in m]) for f, m, _ in out] == [("b", [1]), ("a", [2, 0])]


def test_a_family_whose_best_trial_cannot_be_drawn_shows_its_next_best(tmp_path):
    """In-memory study: rcdb's best trial's recorded fingerprint does not match its spec (so
    it is never drawn as another dataset); its row shows rcdb's next best and says why."""
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import create_trial

    from reports.samples import samples
    from reports.study import trial_row
    from sweep.dataset import Dataset, DatasetSpec
    from sweep.record import TrialRecord

    choices = ["visualatom", "rcdb", "exfractaldb"]
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(
        record.STUDY_CONFIG,
        {
            "generator": {"name": "visualatom"},
            "search": [
                {
                    "name": "family",
                    "type": "categorical",
                    "choices": choices,
                    "targets": ["generator"],
                }
            ],
        },
    )
    dist = {"family": CategoricalDistribution(choices)}

    def add(family: str, value: float, seed: int, fingerprint: str | None = None) -> None:
        ds = Dataset(DatasetSpec(family, classes=2, instances=1, image_size=16, seed=seed))
        stored = {"fingerprint": fingerprint or ds.fingerprint, **ds.config()}
        attrs = {record.param_attr("family"): family, "dataset": stored}
        study.add_trial(
            create_trial(
                params={"family": family}, distributions=dist, value=value, user_attrs=attrs
            )
        )

    add("rcdb", 90.0, 0, fingerprint="0" * 16)  # the best rcdb trial: not drawable
    add("rcdb", 80.0, 1)
    add("visualatom", 85.0, 0)
    rows = [trial_row(TrialRecord.from_trial(t), []) for t in study.get_trials()]
    objectives = [{"name": "headline", "direction": "maximize"}]
    sm = samples(study, rows, objectives, True)  # type: ignore[arg-type]
    assert sm["family"] == "family"
    by = {r["family"]: r for r in sm["rows"]}
    assert [r["family"] for r in sm["rows"]] == ["rcdb", "visualatom", "exfractaldb"]
    rc = by["rcdb"]
    assert rc["number"] == 1 and rc["reason"] is None and len(rc["images"]) == 2
    assert rc["family_trials"] == 2 and rc["rank"] == 3 and rc["of"] == 3
    assert rc["note"] and "its best trial 0 could not be drawn again" in rc["note"]
    assert "differs" in rc["note"]
    assert by["visualatom"]["number"] == 2 and by["visualatom"]["note"] is None
    ex = by["exfractaldb"]
    assert ex["number"] is None and not ex["images"]
    assert ex["reason"] == "not evaluated: no trial of this family ran"
    # the page: a row per family, the missing one with its reason
    from reports.templating import render

    page = render("section-samples.html.j2", sm=sm, metric="headline", n_classes=6, tries=3)
    for f in choices:
        assert f'data-family="{f}"><a class="slabel"' in page and f"<b>{f}</b>" in page
    assert "not evaluated: no trial of this family ran" in page


def test_a_study_of_one_generator_keeps_best_worst_and_spread():
    from reports.samples import family_search

    assert family_search({}) is None
    cfg = {"search": [{"name": "freq", "type": "int_range", "targets": ["freq1", "freq2"]}]}
    assert family_search({record.STUDY_CONFIG: cfg}) is None
    cfg = {
        "search": [
            {
                "name": "fam",
                "type": "categorical",
                "choices": ["rcdb", "fractaldb"],
                "targets": ["generator"],
            }
        ]
    }
    assert family_search({record.STUDY_CONFIG: cfg}) == ("fam", ["rcdb", "fractaldb"])


def test_the_shipped_families_file_is_a_family_study_for_the_report():
    from reports.samples import family_search
    from sweep.study_config import load_study_config

    root = Path(__file__).resolve().parents[1]
    cfg = load_study_config(root / "search_spaces" / "families.yaml").resolved("cpu")
    shipped = [c for c in CHOICES if c != "1p-frac"]  # the published comparison's families
    assert family_search({record.STUDY_CONFIG: cfg}) == ("family", shipped)
