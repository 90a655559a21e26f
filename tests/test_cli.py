"""The ``sweep`` command line: refusals, ``sweep ls``, lazy imports and ``--set`` parsing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sweep.cli import main, parse_overrides
from sweep.errors import SweepError

TINY = ("-c", "3", "-n", "4", "-s", "32")


def assert_one_line_error(proc, *needles: str) -> str:
    """Exit status 2, nothing on stdout, and exactly one ``sweep: error:`` line on stderr."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sweep: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    return lines[0]


# ----------------------------------------------------------------------------- refusals
# Each runs in an empty cwd; some without -o (so the default runs/datasets/... would be made),
# some with -o; after the refusal the cwd must still be empty.
REFUSALS = {
    "unknown-generator": (
        ["generate", "visualatm", *TINY],
        ["unknown generator 'visualatm'", "did you mean 'visualatom'?"],
    ),
    "unknown-parameter": (
        ["generate", "visualatom", *TINY, "--set", "vertice=[3,9]", "-o", "out"],
        ["vertice", "did you mean 'vertices'?"],
    ),
    "range-min-above-max": (
        ["generate", "visualatom", *TINY, "--set", "freq1=[5,2]"],
        ["freq1", "min 5 > max 2"],
    ),
    "range-outside-domain": (
        ["generate", "visualatom", *TINY, "--set", "vertices=[1,9]", "-o", "out"],
        ["vertices", "outside the valid domain"],
    ),
    "scalar-outside-domain": (
        ["generate", "visualatom", *TINY, "--set", "amplitude=-1"],
        ["amplitude", "outside the valid domain"],
    ),
    "wrong-type": (
        ["generate", "rcdb", *TINY, "--set", "orbits=many", "-o", "out"],
        ["orbits"],
    ),
    "zero-classes": (["generate", "visualatom", "-c", "0", "-n", "4", "-s", "32"], ["classes"]),
    "negative-classes": (
        ["generate", "visualatom", "-c", "-3", "-n", "4", "-s", "32", "-o", "out"],
        ["classes"],
    ),
    "zero-instances": (
        ["generate", "visualatom", "-c", "3", "-n", "0", "-s", "32"],
        ["instances"],
    ),
    "negative-instances": (
        ["generate", "visualatom", "-c", "3", "-n", "-1", "-s", "32", "-o", "out"],
        ["instances"],
    ),
    "zero-workers": (["generate", "visualatom", *TINY, "-j", "0"], ["--workers"]),
    "negative-workers": (
        ["generate", "visualatom", *TINY, "-j", "-2", "-o", "out"],
        ["--workers"],
    ),
    "size-too-small": (
        ["generate", "visualatom", "-c", "3", "-n", "4", "-s", "4"],
        ["4", "too small"],
    ),
    "set-without-equals": (
        ["generate", "visualatom", *TINY, "--set", "freq1", "-o", "out"],
        ["freq1", "key=value"],
    ),
    "set-unparsable-value": (
        ["generate", "visualatom", *TINY, "--set", "freq1=[0,"],
        ["freq1"],
    ),
    "negative-seed": (["generate", "visualatom", *TINY, "--seed", "-1"], ["seed"]),
    "unknown-flag": (["generate", "visualatom", *TINY, "--bogus", "-o", "out"], ["--bogus"]),
    "unknown-top-level-flag": (["--bogus"], ["--bogus"]),
    "unknown-command": (["bogus"], ["bogus"]),
}


@pytest.mark.parametrize("argv,needles", REFUSALS.values(), ids=REFUSALS.keys())
def test_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path, run_sweep, argv, needles):
    proc = run_sweep(*argv, cwd=tmp_path)
    assert_one_line_error(proc, *needles)
    assert list(tmp_path.iterdir()) == []


def test_device_cuda_refused_without_cuda(tmp_path, run_sweep):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_sweep("generate", "visualatom", *TINY, "--device", "cuda", cwd=tmp_path)
    assert_one_line_error(proc, "--device", "cuda")
    assert list(tmp_path.iterdir()) == []


def test_unknown_device_refused(tmp_path, run_sweep):
    proc = run_sweep("generate", "visualatom", *TINY, "--device", "tpu9", "-o", "o", cwd=tmp_path)
    assert_one_line_error(proc, "--device", "tpu9")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "-c", "abc"],  # a bad int, reported by the subcommand's parser
        ["generate", "--set"],  # a flag without its argument
    ],
    ids=["bad-int", "missing-argument"],
)
def test_subcommand_argparse_error_is_one_sweep_error_line(tmp_path, run_sweep, argv):
    proc = run_sweep(*argv, cwd=tmp_path)
    assert_one_line_error(proc)
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_empty_directory_that_is_not_a_dataset(tmp_path, run_sweep, tree_stat):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    (out / "album").mkdir()
    before = tree_stat(out)
    proc = run_sweep("generate", "visualatom", *TINY, "-o", str(out), cwd=tmp_path)
    assert_one_line_error(proc, str(out), "not a sweep dataset")
    assert tree_stat(out) == before
    assert (out / "holiday.jpg").read_bytes() == b"precious"


def test_refuses_existing_file_as_output(tmp_path, run_sweep):
    out = tmp_path / "file.txt"
    out.write_text("keep me")
    proc = run_sweep("generate", "visualatom", *TINY, "-o", str(out), cwd=tmp_path)
    assert_one_line_error(proc, "not a directory")
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_refuses_dataset_made_with_another_config(tmp_path, run_sweep, tree_bytes, tree_stat):
    out = tmp_path / "ds"
    first = run_sweep(
        "generate", "rcdb", *TINY, "--seed", "0", "-o", str(out), "--no-progress", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    content, stats = tree_bytes(out), tree_stat(out)
    proc = run_sweep("generate", "rcdb", *TINY, "--seed", "1", "-o", str(out), cwd=tmp_path)
    assert_one_line_error(proc, "different dataset", "seed")
    assert tree_bytes(out) == content
    assert tree_stat(out) == stats


def test_refusal_in_process_returns_2(tmp_path, capsys):
    """``main`` returns the exit status rather than raising, and prints one line."""
    status = main(
        ["generate", "visualatom", *TINY, "--set", "freq1=[5,2]", "-o", str(tmp_path / "o")]
    )
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.startswith("sweep: error: freq1:") and captured.err.count("\n") == 1
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- sweep ls
VISUALATOM_DEFAULTS = {
    "vertices": [200, 1000],
    "orbits": [1, 200],
    "noise": [0, 4],
    "step": [0, 0.1],
    "radius": [10, 60],
    "freq1": [0, 20],
    "freq2": [0, 20],
    "oval": [1, 2],
}


def test_ls_visualatom_json_has_published_defaults(tmp_path, run_sweep):
    proc = run_sweep("ls", "visualatom", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["name"] == "visualatom"
    for name, default in VISUALATOM_DEFAULTS.items():
        assert info["params"][name]["default"] == default, name
    assert info["params"]["freq1"]["type"] == "int_range"
    assert info["params"]["noise"]["domain"] == [0, 1000]


def test_ls_visualatom_prints_every_parameter(tmp_path, run_sweep):
    from sweep.generators import generator_class

    proc = run_sweep("ls", "visualatom", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 5:
            rows[cells[0]] = cells
    schema = generator_class("visualatom").schema
    assert set(rows) == {p.name for p in schema}
    assert rows["vertices"][1:4] == ["int_range", "[200, 1000]", "[3, 100000]"]
    assert rows["amplitude"][1:3] == ["float", "0.5"]


def test_ls_visualatom_shows_help_text_verbatim(tmp_path, run_sweep):
    """Help texts with square brackets must not be eaten as rich markup."""
    from sweep.generators import generator_class

    proc = run_sweep("ls", "visualatom", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for p in generator_class("visualatom").schema:
        assert p.help in proc.stdout, p.help


def test_ls_lists_generators_as_json(tmp_path, run_sweep):
    proc = run_sweep("ls", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = [g["name"] for g in json.loads(proc.stdout)]
    assert {"visualatom", "rcdb"} <= set(names)


def test_ls_unknown_generator_refused(tmp_path, run_sweep):
    proc = run_sweep("ls", "rcbd", cwd=tmp_path)
    assert_one_line_error(proc, "did you mean 'rcdb'?")


# ----------------------------------------------------------------------------- help is cheap
def test_importing_the_cli_does_not_import_heavy_modules():
    code = (
        "import sys, sweep.cli\n"
        "from sweep.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "try:\n"
        "    main(['generate', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'numba', 'cv2', 'numpy') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_import_sweep_cli_does_not_import_torch():
    proc = subprocess.run(
        [sys.executable, "-c", "import sweep.cli, sys; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_help_lists_commands(tmp_path, run_sweep):
    proc = run_sweep("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "generate" in proc.stdout and "ls" in proc.stdout
    proc = run_sweep("generate", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for flag in (
        "--classes",
        "--instances",
        "--size",
        "--seed",
        "--set",
        "--workers",
        "--preview",
    ):
        assert flag in proc.stdout


# ----------------------------------------------------------------------------- parse_overrides
@pytest.mark.parametrize(
    "item,expected",
    [
        ("freq1=[0,3]", {"freq1": [0, 3]}),
        ("freq1=0,3", {"freq1": [0, 3]}),
        ("freq1=0, 3", {"freq1": [0, 3]}),
        ("freq1=[0, 3]", {"freq1": [0, 3]}),
        ("amplitude=0.25", {"amplitude": 0.25}),
        ("start_pos=100", {"start_pos": 100}),
        ("noise=0.5,2.5", {"noise": [0.5, 2.5]}),
        ("step=[0,0.05]", {"step": [0, 0.05]}),
        (" freq2 =[1,4]", {"freq2": [1, 4]}),
    ],
)
def test_parse_overrides_values(item, expected):
    assert parse_overrides([item]) == expected


def test_parse_overrides_types():
    out = parse_overrides(["amplitude=0.25", "start_pos=100", "freq1=0,3", "noise=[0.5,2]"])
    assert type(out["amplitude"]) is float
    assert type(out["start_pos"]) is int
    assert [type(v) for v in out["freq1"]] == [int, int]
    assert [type(v) for v in out["noise"]] == [float, int]


def test_parse_overrides_several_and_empty():
    assert parse_overrides(None) == {}
    assert parse_overrides([]) == {}
    assert parse_overrides(["freq1=[0,3]", "freq2=1,2", "freq1=[1,2]"]) == {
        "freq1": [1, 2],
        "freq2": [1, 2],
    }


@pytest.mark.parametrize(
    "item,expected",
    [
        ("amplitude=1e-3", {"amplitude": 0.001}),
        ("amplitude=2E1", {"amplitude": 20.0}),
        ("step=[0,1e-2]", {"step": [0, 0.01]}),
        ("step=0,5e-2", {"step": [0, 0.05]}),
    ],
)
def test_parse_overrides_scientific_notation(item, expected):
    assert parse_overrides([item]) == expected


@pytest.mark.parametrize("item", ["freq1", "=3", "  =[0,3]", "freq1=[0,"])
def test_parse_overrides_rejects_malformed(item):
    with pytest.raises(SweepError):
        parse_overrides([item])


def test_set_scientific_notation_end_to_end(tmp_path):
    """``--set amplitude=1e-3`` is a number to the whole command line, not a string."""
    status = main(
        [
            "generate",
            "visualatom",
            "-c",
            "1",
            "-n",
            "1",
            "-s",
            "32",
            "--set",
            "amplitude=1e-3",
            "-o",
            str(tmp_path / "o"),
            "--no-progress",
            "-j",
            "1",
        ]
    )
    assert status == 0
    config = json.loads((tmp_path / "o" / "sweep-dataset.json").read_text())["config"]
    assert config["params"]["amplitude"] == 0.001


def test_a_misspelt_command_gets_a_did_you_mean_and_bare_sweep_is_not_success(capsys):
    # Issue 14, item 16: a misspelt subcommand had no suggestion; bare `sweep` exited 0.
    assert main(["lauch", "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'lauch'" in err and "'launch'" in err
    assert main([]) == 2
    assert "usage: sweep" in capsys.readouterr().err
