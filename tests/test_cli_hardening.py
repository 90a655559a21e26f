"""Issue 14 (hardening) at the command line: bounded budgets, counts checked before torch is
imported, ``--profile gpu`` without CUDA, ``export`` onto an earlier export, plain progress
lines off a terminal, ``sweep status`` wording and every flag's help text. The end-to-end ones
share one launch of the free ``analytic`` proxy (seconds)."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from spaces import ANALYTIC_SPACE
from test_cli import assert_one_line_error

from sweep import cli, cliargs, engine_cli, limits
from sweep.errors import SweepError


def write_space(
    where: Path, *, study: str = "hard", trials: int = 4, profile: str = "cpu", extra: str = ""
) -> Path:
    f = where / f"{study}.yaml"
    text = ANALYTIC_SPACE.format(study=study, trials=trials).replace(
        "profile: cpu", f"profile: {profile}"
    )
    f.write_text(text + f"storage: {where / 'studies.db'}\nconfirm: false\n{extra}")
    return f


@pytest.fixture(scope="module")
def launched(tmp_path_factory, run_sweep):
    """One analytic study of 4 trials, launched with stdout a pipe (not a terminal)."""
    where = tmp_path_factory.mktemp("launched")
    space = write_space(where)
    proc = run_sweep("launch", str(space), cwd=where, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return where, proc


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_a_machine_without_a_gpu_is_told_without_importing_torch():
    # Every launcher and worker asked torch whether CUDA exists (about a second of import
    # each); sweep.devices answers from the device nodes where there can be none, and leaves
    # the question to torch where there may be one. The two never disagree on this machine.
    import torch

    from sweep.devices import cuda_count, device_type, no_gpu_here

    if no_gpu_here():
        assert not torch.cuda.is_available()
    want = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert cuda_count() == want
    assert device_type("auto") == ("cuda" if want else "cpu")
    code = "import sys; from sweep.devices import device_type; device_type('auto'); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("False" if no_gpu_here() else "True")


# ----------------------------------------------------------------------------- item 13
@pytest.mark.parametrize("flag,value", [("--trials", str(10**12)), ("--workers", str(10**6))])
def test_a_huge_budget_is_refused_at_once_and_writes_nothing(tmp_path, run_sweep, flag, value):
    # Issue 14, item 13: --trials 10**12 put 10**12 budget tickets in a queue (hung, with the
    # study already created); a million workers would start a million processes.
    space = write_space(tmp_path)
    proc = run_sweep("launch", str(space), flag, value, cwd=tmp_path, timeout=60)
    line = assert_one_line_error(proc, flag, "at most")
    assert f"{value[:1]}," in line  # the number as asked, readable: 1,000,000,...
    assert list(tmp_path.iterdir()) == [space]


def test_the_bounds_themselves_are_accepted():
    trials = cliargs.count_arg("--trials", limits.MAX_TRIALS, "trials")
    assert trials(str(limits.MAX_TRIALS)) == limits.MAX_TRIALS and trials("1") == 1
    for bad in (str(limits.MAX_TRIALS + 1), "0", "-3", "1.5", "many"):
        with pytest.raises(argparse.ArgumentTypeError):
            trials(bad)


# ----------------------------------------------------------------------------- item 16
PROBE = """\
import sys
from sweep.cli import main
print("exit", main(sys.argv[1:]))
print(sorted(m for m in ("torch", "optuna", "pydantic") if m in sys.modules))
"""


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["launch", "{space}", "--trials", "0"], "--trials"),
        (["launch", "{space}", "--workers", "-1"], "--workers"),
        (["launch", "{space}", "--trials", "3", "--workers", "0"], "--workers"),
        (["resume", "hard", "--workers", "0"], "--workers"),
        (["calibrate", "{space}", "--workers", "-2"], "--workers"),
    ],
    ids=["trials-0", "workers-negative", "workers-0", "resume", "calibrate"],
)
def test_bad_counts_are_refused_before_any_heavy_import(tmp_path, argv, flag):
    # Issue 14, item 16: `launch --trials 0` imported torch (seconds) and Optuna, picked a
    # profile, and then said "--trials and --workers must be positive integers": not which.
    space = write_space(tmp_path)
    argv = [a.format(space=space) for a in argv]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.stdout.splitlines() == ["exit 2", "[]"], proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("sweep: error: ") and "\n" not in line, proc.stderr
    assert line.startswith(f"sweep: error: {flag}: ")
    other = {"--trials": "--workers", "--workers": "--trials"}.get(flag)
    assert other is None or other not in line  # names the one that is wrong
    assert list(tmp_path.iterdir()) == [space]


# ----------------------------------------------------------------------------- item 14
def test_profile_gpu_without_cuda_is_refused_before_anything_runs(tmp_path, run_sweep):
    if cuda():
        pytest.skip("this machine has CUDA")
    space = write_space(tmp_path)
    for argv in (
        ["launch", str(space), "--profile", "gpu"],
        ["trial", str(space), "--profile", "gpu"],
        ["calibrate", str(space), "--profile", "gpu"],
    ):
        proc = run_sweep(*argv, cwd=tmp_path, timeout=60)
        assert_one_line_error(proc, "--profile gpu", "no CUDA device", "--device cpu")
        assert list(tmp_path.iterdir()) == [space], argv
    gpu_file = write_space(tmp_path, study="gpufile", profile="gpu")
    proc = run_sweep("launch", str(gpu_file), cwd=tmp_path, timeout=60)
    assert_one_line_error(proc, "proxy.profile gpu", "no CUDA device")
    assert sorted(tmp_path.iterdir()) == sorted([space, gpu_file])


def test_gpu_profile_decisions(monkeypatch, capsys):
    """Without CUDA (simulated): refused on ``auto``; a warning with an explicit ``--device
    cpu``; nothing to check for trials on a Ray cluster or for another profile."""
    from sweep import devices

    monkeypatch.setattr(devices, "device_type", lambda device, label="device": "cpu")
    with pytest.raises(SweepError, match=r"^--profile gpu: no CUDA device"):
        devices.check_gpu_profile("gpu", "auto")
    devices.check_gpu_profile("gpu", "auto", remote=True)
    devices.check_gpu_profile("auto", "auto")
    devices.check_gpu_profile("cpu", "auto")
    assert capsys.readouterr().err == ""
    devices.check_gpu_profile("gpu", "cpu")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sweep: warning: --profile gpu with --device")


def test_the_launch_check_knows_a_ray_cluster(tmp_path, monkeypatch):
    from sweep import devices

    seen = []
    monkeypatch.setattr(
        devices,
        "check_gpu_profile",
        lambda asked, device, *, remote, label: seen.append((asked, remote, label)),
    )
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    space = write_space(tmp_path, extra="backend: {name: ray, address: 'head:6379'}\n")
    ns = argparse.Namespace(
        file=str(space), profile="gpu", device="auto", backend=None, address=None
    )
    engine_cli.check_profile_device(ns)
    engine_cli.check_profile_device(argparse.Namespace(**{**vars(ns), "backend": "local"}))
    engine_cli.check_profile_device(argparse.Namespace(**{**vars(ns), "profile": None}))
    engine_cli.check_profile_device(
        ns, here=True
    )  # sweep trial: on this machine, whatever the file says
    assert seen == [
        ("gpu", True, "--profile"),
        ("gpu", False, "--profile"),
        ("cpu", True, f"{space}: proxy.profile"),
        ("gpu", False, "--profile"),
    ]
    seen.clear()
    engine_cli.check_profile_device(argparse.Namespace(**{**vars(ns), "profile": "cpu"}))
    assert seen == []  # an explicit cpu or auto: the file is not even read


# ----------------------------------------------------------------------------- export
def test_export_onto_an_earlier_export_is_refused_unless_force(launched, run_sweep):
    where, _ = launched
    db, out = str(where / "studies.db"), where / "exp"
    first = run_sweep("export", "hard", "--storage", db, "-o", str(out), cwd=where)
    assert first.returncode == 0, first.stderr
    (out / "trials.csv").write_text("edited by hand")
    again = run_sweep("export", "hard", "--storage", db, "-o", str(out), cwd=where)
    assert_one_line_error(again, str(out), "trials.csv", "--force")
    assert (out / "trials.csv").read_text() == "edited by hand"
    forced = run_sweep("export", "hard", "--storage", db, "-o", str(out), "--force", cwd=where)
    assert forced.returncode == 0, forced.stderr
    assert (out / "trials.csv").read_text().startswith("number,state,")
    assert len(json.loads((out / "trials.json").read_text())["trials"]) == 4
    assert sorted(p.name for p in out.iterdir()) == ["trials.csv", "trials.json"]  # no temps


def test_export_onto_a_file_is_refused_even_with_force(launched, run_sweep):
    where, _ = launched
    target = where / "notes.txt"
    target.write_text("keep me")
    for extra in ([], ["--force"]):
        proc = run_sweep(
            "export",
            "hard",
            "--storage",
            str(where / "studies.db"),
            "-o",
            str(target),
            *extra,
            cwd=where,
        )
        assert_one_line_error(proc, "-o", "is a file, not a directory")
        assert target.read_text() == "keep me"


# ----------------------------------------------------------------------------- item 17
def test_progress_off_a_terminal_is_plain_lines(launched):
    # Issue 14, item 17: into a pipe the rich bar printed its last frame once, at the end: no
    # progress in a log while the study ran, and bar glyphs in the file.
    _, proc = launched
    progress = [x for x in proc.stdout.splitlines() if x.startswith("sweep: hard: ")]
    assert progress[0].startswith("sweep: hard: 0/4 trials (complete 0, pruned 0, failed 0")
    assert progress[-1].startswith("sweep: hard: 4/4 trials (complete 4,")
    assert "\r" not in proc.stdout and "\x1b" not in proc.stdout
    assert not any("━" in x for x in progress)  # no bar glyphs (the table below has its own)


class _Trials:
    """A study that a test advances by hand (an in-memory Optuna study underneath)."""

    def __init__(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(study_name="fake", direction="maximize")

    def finish(self, value: float | None) -> None:
        from optuna.trial import TrialState

        t = self.study.ask()
        if value is None:
            self.study.tell(t, state=TrialState.FAIL)
        else:
            self.study.tell(t, value)


def test_one_plain_line_per_finished_trial_with_an_eta(monkeypatch):
    from sweep.engine import progress as progress_mod

    now = [100.0]
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: now[0])
    fake, out = _Trials(), io.StringIO()
    spec = argparse.Namespace(objectives=[("headline", "maximize")])
    with progress_mod.Progress(True, fake.study, 4, spec, stream=out) as bar:
        bar.update()  # nothing finished: no second line
        now[0] += 30
        fake.finish(1.5)
        bar.update()
        bar.update()
        now[0] += 30
        fake.finish(None)
        bar.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0] == (
        "sweep: fake: 0/4 trials (complete 0, pruned 0, failed 0, running 0); 0:00:00 elapsed"
    )
    assert lines[1] == (
        "sweep: fake: 1/4 trials (complete 1, pruned 0, failed 0, running 0) "
        "best #0 headline=1.5; 0:00:30 elapsed, about 0:01:30 left"
    )
    assert lines[2].startswith("sweep: fake: 2/4 trials (complete 1, pruned 0, failed 1,")
    assert lines[2].endswith("0:01:00 elapsed, about 0:01:00 left")
    assert "\r" not in out.getvalue()


def test_progress_disabled_prints_nothing_and_a_terminal_gets_the_bar():
    fake, out = _Trials(), io.StringIO()
    spec = argparse.Namespace(objectives=[("headline", "maximize")])
    from sweep.engine.progress import Progress

    with Progress(False, fake.study, 2, spec, stream=out) as bar:
        fake.finish(1.0)
        bar.update()
    assert out.getvalue() == ""
    with Progress(True, fake.study, 2, spec, stream=out) as bar:
        assert bar.live is False  # a StringIO is no terminal
    with Progress(True, fake.study, 2, spec, stream=io.StringIO(), live=True) as bar:
        fake.finish(2.0)
        bar.update()
        assert bar.p.tasks[0].completed == 2


# ----------------------------------------------------------------------------- item 18
def test_status_says_failed_rounds_values_and_states_the_budget(launched, run_sweep):
    where, _ = launched
    proc = run_sweep("status", "hard", "--storage", str(where / "studies.db"), cwd=where)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "study 'hard': complete 4, pruned 0, failed 0, running 0, waiting 0"
    assert lines[1] == "budget: all 4 search trials used"
    best = [x for x in lines if x.startswith("top single trial: ")]
    assert best and all("headline=" in x for x in best), lines
    proc = run_sweep("status", "hard", "--storage", str(where / "studies.db"), "--json", cwd=where)
    data = json.loads(proc.stdout)
    assert data["budget"] == {"trials": 4, "used": 4, "confirm": 0}
    assert data["metrics"] == ["headline"]


def test_status_lines_round_and_say_what_is_left():
    from sweep.engine.commands import status_lines

    st = {
        "study": "s",
        "storage": "s.db",
        "answer_line": "insufficient data",
        "counts": {"COMPLETE": 2, "PRUNED": 0, "FAIL": 1, "RUNNING": 0, "WAITING": 0},
        "budget": {"trials": 10, "used": 3, "confirm": 0},
        "metrics": ["top1", "time_s"],
        "best": [
            {
                "number": 4,
                "arm": "published",
                "values": [61.23456789, 12.000001],
                "params": {"freq": [0, 20]},
            }
        ],
        "running": [{"number": 5, "age_s": 4000.0, "worker": "h:1", "stale": False}],
    }
    lines = status_lines(st)
    assert lines[0] == "study 's': complete 2, pruned 0, failed 1, running 0, waiting 0"
    assert lines[1] == "budget: 3 of 10 search trials used, 7 left; 'sweep resume s' runs the rest"
    assert lines[2] == ('top single trial: 4 (published): top1=61.23, time_s=12 {"freq": [0, 20]}')
    assert lines[3] == "running: trial 5 for 67 min on h:1"
    # The answer's best, on its paired seeds, comes first and says so (issue 22, item 2).
    st["answer"] = {"best": {"label": "[3, 11]", "trial": 7, "mean": 100.1183, "seeds": 6}}
    assert status_lines(st)[2] == (
        "best: [3, 11] (trial 7), mean 100.1 over 6 paired seeds (the answer's)"
    )
    st["budget"] = {"trials": 3, "used": 3, "confirm": 12}
    assert status_lines(st)[1] == (
        "budget: all 3 search trials used; 12 confirmation trials beyond it"
    )


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    for action in cli.build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_flag_and_argument_has_help(command):
    parser = _subparsers()[command]
    assert parser.description, command
    bare = [a.option_strings or a.dest for a in parser._actions if not (a.help or "").strip()]
    assert bare == [], f"sweep {command}: no help for {bare}"


# ----------------------------------------------------------------------------- item 15
def test_ctrl_c_prints_one_line_and_stops_promptly(tmp_path):
    # Issue 14, item 15: after Ctrl-C each worker logged Optuna's two warnings per cut trial
    # ("Trial 0 failed with parameters ... KeyboardInterrupt()", "... with value None") and
    # spent seconds in the interpreter's final garbage collection (4-6 s on 2 cores).
    import os
    import signal
    import time

    from optuna.trial import TrialState
    from test_engine import load, slow_trials
    from test_engine import write_space as vit_space

    space = vit_space(tmp_path, trials=5)
    slow_trials(space)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweep", "launch", str(space), "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # a trial mid-computation (its parameters drawn)
        time.sleep(0.3)
        try:
            if any(
                t.state == TrialState.RUNNING and t.params for t in load(tmp_path).get_trials()
            ):
                break
        except KeyError:
            continue
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=120)
    took = time.monotonic() - t0
    assert proc.returncode == 130, err[-3000:]
    lines = err.splitlines()
    assert lines[-1] == "sweep: interrupted; run the same command again to resume"
    assert [x for x in lines if not x.startswith("sweep: ")] == [], err  # no Optuna warnings
    assert took < 20, took  # (about 1 s here; before the launcher's 30 s join deadline)
    assert [t for t in load(tmp_path).get_trials() if t.user_attrs.get("sweep:interrupted")]


def test_an_interrupted_worker_silences_optuna_and_freezes_the_heap(monkeypatch):
    import gc
    import logging

    from sweep.engine.signals import Interrupt

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    log = logging.getLogger("optuna")
    monkeypatch.setattr(log, "level", logging.WARNING)
    stop = Interrupt()
    stop.handler(2, None)  # outside the proxy's computation: a flag, no exception
    assert stop.requested and frozen == [True] and log.level == logging.ERROR
    stop.handler(2, None)  # the launcher passes Ctrl-C on: counted once
    assert frozen == [True]
