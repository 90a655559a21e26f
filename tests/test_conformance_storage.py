"""Conformance of every storage kind (``sweep.storage.STORAGE_KINDS``): a study written through
one kind reads back, through :mod:`sweep.record`, exactly as the engine wrote it.

The tests are parametrized over the registry, so a new storage kind is under test as soon as it
is registered: a file kind through its ``example`` URL, a server kind through
``SWEEP_TEST_POSTGRES`` (``.ci/run`` starts a PostgreSQL server; skipped without one locally,
a failure under ``SWEEP_CI=1``).
"""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from sweep import record
from sweep.errors import SweepError
from sweep.storage import (
    STORAGE_KINDS,
    make_storage,
    mask_url,
    normalize_storage,
    storage_kind,
)

KINDS = STORAGE_KINDS.names()


@pytest.fixture(params=KINDS)
def kind_url(request, tmp_path):
    kind = STORAGE_KINDS.get(request.param)
    if kind.example is None:  # a server: the suite's PostgreSQL, in a fresh schema
        return kind, request.getfixturevalue("postgres_url")
    return kind, kind.example.format(dir=tmp_path)


def test_the_registry_covers_every_scheme_sweep_accepts():
    assert set(KINDS) == {"sqlite", "journal", "postgresql"}
    for name in KINDS:
        kind = STORAGE_KINDS.get(name)
        assert kind.name == name and kind.prefix and kind.shared


def test_urls_normalise_idempotently_to_their_kind(kind_url):
    kind, url = kind_url
    norm = normalize_storage(url)
    assert normalize_storage(norm) == norm
    assert storage_kind(url) is kind and norm.startswith(kind.prefix)


def _write_trial(study, n: int) -> None:
    t = study.ask()
    t.suggest_int("freq.min", 0, 10)
    t.suggest_float("freq.span", 0.0, 1.0)
    t.set_user_attr(record.WORKER, f"host:{1000 + n}")
    t.set_user_attr(record.param_attr("freq"), [n, n + 3])
    t.set_user_attr("headline", 50.0 + n)
    t.set_user_attr(f"{record.DIVERSITY_PREFIX}vendi_q1", 3.5 + n)
    t.set_user_attr(f"{record.DIVERSITY_PREFIX}n", 100)
    t.set_user_attr(record.DATASET, {"generator": "visualatom", "params": {"freq": [n, n + 3]}})
    t.set_user_attr(record.SEEDS, [0, 1])
    for rep in range(2):
        for epoch in range(3):
            t.report(-(4.0 - epoch - rep / 10), record.loss_step(rep, epoch))
    study.tell(t, 50.0 + n)


def test_a_study_reads_back_exactly_as_the_engine_wrote_it(kind_url):
    _, url = kind_url
    study = optuna.create_study(
        study_name="conf", storage=make_storage(url, heartbeat=False), direction="maximize"
    )
    study.set_user_attr(record.STUDY_CONFIG, {"study": "conf", "search": []})
    study.set_user_attr(record.STUDY_QUESTION, "Does it round-trip?")
    for n in range(3):
        _write_trial(study, n)
    failed = study.ask({"freq.min": optuna.distributions.IntDistribution(0, 10)})
    failed.set_user_attr(record.ERROR, "worker died mid-trial")
    study.tell(failed, state=TrialState.FAIL)
    study.enqueue_trial(failed.params, user_attrs={record.RETRY_OF: failed.number})

    # Reopened read-only (no heartbeat thread), as status, export and report open it.
    again = optuna.load_study(study_name="conf", storage=make_storage(url, heartbeat=False))
    assert again.user_attrs[record.STUDY_QUESTION] == "Does it round-trip?"
    recs = record.records(again)
    assert [r.number for r in recs] == [0, 1, 2, 3, 4]
    assert record.counts(again.get_trials()) == {
        "COMPLETE": 3,
        "PRUNED": 0,
        "FAIL": 1,
        "RUNNING": 0,
        "WAITING": 1,
    }
    assert record.used_budget(again.get_trials()) == 3  # the failure is retried: not counted
    assert record.retried_numbers(again.get_trials()) == {3}
    r = recs[1]
    assert r.complete and r.values == (51.0,) and r.params == {"freq": [1, 4]}
    assert r.worker == "host:1001" and r.seeds == [0, 1]
    assert r.metrics["headline"] == 51.0 and r.metric("headline") == 51.0
    assert r.diversity() == {"vendi_q1": 4.5}  # the sample size is bookkeeping, not a metric
    assert r.dataset == {"generator": "visualatom", "params": {"freq": [1, 4]}}
    assert r.loss_curves() == {
        0: [(0, -4.0), (1, -3.0), (2, -2.0)],
        1: [(0, -3.9), (1, -2.9), (2, -1.9)],
    }
    assert recs[3].state == "FAIL" and recs[3].error == "worker died mid-trial"
    assert recs[4].state == "WAITING" and recs[4].retry_of == 3


def test_a_missing_study_is_a_key_error_not_a_new_study(kind_url):
    _, url = kind_url
    st = make_storage(url, heartbeat=False)
    with pytest.raises(KeyError):
        optuna.load_study(study_name="absent", storage=st)
    assert [s.study_name for s in optuna.get_all_study_summaries(st)] == []


def test_passwords_never_reach_messages(kind_url):
    kind, _ = kind_url
    secret = "s3cr3t-pw"
    if kind.example is None:
        bad = "postgresql+psycopg://user:" + secret + "@127.0.0.1:1/nodb"
        with pytest.raises(SweepError) as e:
            make_storage(bad)
        assert secret not in str(e.value) and "***" in str(e.value)
    assert secret not in mask_url(f"postgresql://u:{secret}@h/db?password={secret}")
