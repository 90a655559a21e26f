"""``sweep generate`` end to end: the ImageFolder tree, its contents, determinism and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from sweep.dataset import Dataset, DatasetSpec
from sweep.generate import bar_label, generate

CLASSES, INSTANCES, SIZE, SEED = 3, 4, 32, 7
OVERRIDES = {"freq1": [0, 3], "orbits": [1, 50]}
SPEC = DatasetSpec(
    "visualatom",
    classes=CLASSES,
    instances=INSTANCES,
    image_size=SIZE,
    seed=SEED,
    params=OVERRIDES,
)


def class_dirs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))


def tmp_leftovers(out: Path) -> list[str]:
    tmp = out / ".sweep" / "tmp"
    return sorted(p.relative_to(out).as_posix() for p in tmp.rglob("*")) if tmp.exists() else []


# ----------------------------------------------------------------------------- end to end (CLI)
@pytest.fixture(scope="module")
def cli_dataset(tmp_path_factory, run_sweep):
    """One tiny dataset written by the real command line, with overrides and --preview."""
    cwd = tmp_path_factory.mktemp("cli")
    out = cwd / "ds"
    proc = run_sweep(
        "generate",
        "visualatom",
        "-c",
        str(CLASSES),
        "-n",
        str(INSTANCES),
        "-s",
        str(SIZE),
        "--seed",
        str(SEED),
        "--set",
        "freq1=[0,3]",
        "--set",
        "orbits=1,50",
        "-o",
        str(out),
        "-j",
        "2",
        "--preview",
        "--no-progress",
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_generate_reports_what_it_wrote(cli_dataset):
    out, proc = cli_dataset
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"wrote {CLASSES * INSTANCES} images (0 classes already done)")
    assert lines[0].endswith(str(out))
    assert lines[1] == f"preview: {out / 'preview.png'}"


def test_generate_writes_imagefolder_tree(cli_dataset):
    out, _ = cli_dataset
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    expected_dirs = [f"{c:05d}" for c in range(CLASSES)]
    assert visible == sorted(
        [*expected_dirs, "classes.jsonl", "sweep-dataset.json", "preview.png"]
    )
    assert class_dirs(out) == expected_dirs
    for c in range(CLASSES):
        names = sorted(p.name for p in (out / f"{c:05d}").iterdir())
        assert names == [f"{c:05d}_{i:04d}.png" for i in range(INSTANCES)]
    assert tmp_leftovers(out) == []


def test_generate_pngs_are_grey_8bit_and_equal_the_renderer(cli_dataset):
    out, _ = cli_dataset
    ds = Dataset(SPEC)
    for c in range(CLASSES):
        expected = ds.render_class(c)
        assert expected.shape == (INSTANCES, SIZE, SIZE)
        for i in range(INSTANCES):
            path = out / f"{c:05d}" / f"{c:05d}_{i:04d}.png"
            raw = path.read_bytes()
            assert raw[:8] == b"\x89PNG\r\n\x1a\n"
            assert (raw[24], raw[25]) == (8, 0)  # IHDR: bit depth 8, colour type 0 (grey)
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert image is not None and image.dtype == np.uint8 and image.ndim == 2
            np.testing.assert_array_equal(image, expected[i], err_msg=str(path))
    # the images are not all blank: the comparison above is not trivially satisfied
    assert all(len(np.unique(ds.render_class(c))) > 1 for c in range(CLASSES))


def test_generate_classes_jsonl_holds_class_params(cli_dataset):
    out, _ = cli_dataset
    ds = Dataset(SPEC)
    text = (out / "classes.jsonl").read_text()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == CLASSES
    for c, line in enumerate(lines):
        rec = json.loads(line)
        assert rec == {"class": c, "params": ds.class_params(c)}
        assert 0 <= rec["params"]["freq1"] <= 3 and 1 <= rec["params"]["orbits"] <= 50
    assert len({json.dumps(json.loads(line)["params"]) for line in lines}) == CLASSES


def test_generate_manifest_is_complete_with_fingerprint(cli_dataset):
    out, _ = cli_dataset
    ds = Dataset(SPEC)
    manifest = json.loads((out / "sweep-dataset.json").read_text())
    assert manifest["complete"] is True
    assert manifest["fingerprint"] == ds.fingerprint
    assert manifest["config"] == json.loads(json.dumps(ds.config()))
    assert manifest["config"]["params"]["freq1"] == [0, 3]
    assert manifest["config"]["seed"] == SEED
    # a different spec has a different fingerprint, so the check above means something
    other = Dataset(DatasetSpec("visualatom", CLASSES, INSTANCES, SIZE, SEED))
    assert other.fingerprint != ds.fingerprint


def test_generate_preview_is_a_non_blank_grey_png(cli_dataset):
    out, _ = cli_dataset
    sheet = cv2.imread(str(out / "preview.png"), cv2.IMREAD_UNCHANGED)
    assert sheet is not None and sheet.dtype == np.uint8 and sheet.ndim == 2
    assert sheet.shape[0] >= CLASSES * SIZE and sheet.shape[1] >= INSTANCES * SIZE
    # more grey levels than the background and the gap fill: some image content is drawn
    assert len(np.unique(sheet)) > 2


def test_generate_tree_loads_with_torchvision_imagefolder(cli_dataset):
    from torchvision.datasets import ImageFolder

    out, _ = cli_dataset
    folder = ImageFolder(str(out))
    assert folder.classes == [f"{c:05d}" for c in range(CLASSES)]
    assert len(folder) == CLASSES * INSTANCES
    assert np.bincount(folder.targets).tolist() == [INSTANCES] * CLASSES
    image, target = folder[INSTANCES + 1]  # class 1, instance 1
    assert target == 1 and image.size == (SIZE, SIZE)
    grey = np.asarray(image.convert("L"))
    np.testing.assert_array_equal(grey, Dataset(SPEC).render_class(1)[1])


def test_generate_default_output_dir(tmp_path, run_sweep):
    proc = run_sweep(
        "generate", "rcdb", "-c", "2", "-n", "2", "-s", "32", "--no-progress", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    ds = Dataset(DatasetSpec("rcdb", classes=2, instances=2, image_size=32, seed=0))
    out = tmp_path / "runs" / "datasets" / f"rcdb-{ds.fingerprint[:8]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert json.loads((out / "sweep-dataset.json").read_text())["fingerprint"] == ds.fingerprint
    assert class_dirs(out) == ["00000", "00001"]


# ----------------------------------------------------------------------------- determinism
def test_generate_is_identical_for_any_worker_count(tmp_path, tree_bytes):
    spec = DatasetSpec("visualatom", classes=4, instances=3, image_size=32, seed=1)
    one = generate(spec, tmp_path / "one", workers=1, progress=False)
    two = generate(spec, tmp_path / "two", workers=2, progress=False)
    assert one["written"] == two["written"] == 12
    a, b = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    assert sum(name.endswith(".png") for name in a) == 12
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_generate_rcdb_is_identical_for_any_worker_count(tmp_path, tree_bytes):
    spec = DatasetSpec("rcdb", classes=3, instances=2, image_size=32, seed=5)
    generate(spec, tmp_path / "one", workers=1, progress=False)
    generate(spec, tmp_path / "two", workers=2, progress=False)
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")


def test_generate_different_seeds_give_different_images(tmp_path, tree_bytes):
    for seed in (0, 1):
        spec = DatasetSpec("visualatom", classes=3, instances=4, image_size=32, seed=seed)
        generate(spec, tmp_path / f"s{seed}", workers=1, progress=False)
    a, b = tree_bytes(tmp_path / "s0"), tree_bytes(tmp_path / "s1")
    pngs = [n for n in a if n.endswith(".png") and not n.startswith(".")]
    assert len(pngs) == 12 and set(pngs) <= b.keys()
    same = [n for n in pngs if a[n] == b[n]]
    assert not same, f"identical images across seeds: {same}"
    assert a["classes.jsonl"] != b["classes.jsonl"]


# ----------------------------------------------------------------------------- resume
def test_rerun_of_a_complete_dataset_is_a_no_op(tmp_path, run_sweep, tree_bytes, tree_stat):
    args = (
        "generate",
        "rcdb",
        "-c",
        "3",
        "-n",
        "2",
        "-s",
        "32",
        "-o",
        "ds",
        "-j",
        "1",
        "--no-progress",
    )
    first = run_sweep(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "ds"
    pngs = {k: v for k, v in tree_stat(out).items() if k.endswith(".png")}
    content = tree_bytes(out)
    again = run_sweep(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("resumed 0 images (3 classes already done)")
    assert {k: v for k, v in tree_stat(out).items() if k.endswith(".png")} == pngs
    assert tree_bytes(out) == content


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path, run_sweep, tree_bytes, tree_stat):
    classes, instances, size, seed = 24, 30, 128, 3
    out = tmp_path / "ds"
    args = [
        "generate",
        "visualatom",
        "-c",
        str(classes),
        "-n",
        str(instances),
        "-s",
        str(size),
        "--seed",
        str(seed),
        "-o",
        str(out),
        "-j",
        "1",
        "--no-progress",
    ]
    with open(tmp_path / "killed.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sweep", *args], cwd=tmp_path, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if (out / "00000").is_dir():
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.002)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    done = class_dirs(out)
    assert 1 <= len(done) < classes
    assert json.loads((out / "sweep-dataset.json").read_text())["complete"] is False
    assert not (out / "classes.jsonl").exists()
    before = {k: v for k, v in tree_stat(out).items() if k.split("/")[0] in done and "/" in k}
    assert len(before) == len(done) * instances

    proc = run_sweep(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    left = (classes - len(done)) * instances
    assert proc.stdout.startswith(f"resumed {left} images ({len(done)} classes already done)")

    # finished classes were not rewritten: same inode, size and mtime for every image
    after = tree_stat(out)
    assert {k: after[k] for k in before} == before
    assert tmp_leftovers(out) == []
    assert class_dirs(out) == [f"{c:05d}" for c in range(classes)]
    assert json.loads((out / "sweep-dataset.json").read_text())["complete"] is True

    spec = DatasetSpec(
        "visualatom", classes=classes, instances=instances, image_size=size, seed=seed
    )
    generate(spec, tmp_path / "reference", workers=2, progress=False)
    resumed, reference = tree_bytes(out), tree_bytes(tmp_path / "reference")
    assert resumed.keys() == reference.keys()
    assert [k for k in reference if resumed[k] != reference[k]] == []


def test_resume_redoes_a_partially_written_class(tmp_path, tree_bytes, tree_stat, monkeypatch):
    spec = DatasetSpec("visualatom", classes=5, instances=4, image_size=32, seed=11)
    generate(spec, tmp_path / "reference", workers=1, progress=False)
    reference = tree_bytes(tmp_path / "reference")

    # Interrupt a real run while it writes class 2: with chunk=2 the first two images of class
    # 2 are on disk in .sweep/tmp when the second chunk's render is interrupted.
    render_class = Dataset.render_class

    def interrupted(self, c, instances=None, device=None):
        if c == 2 and instances is not None and int(np.min(instances)) >= 2:
            raise KeyboardInterrupt
        return render_class(self, c, instances, device)

    out = tmp_path / "ds"
    with monkeypatch.context() as m:
        m.setattr(Dataset, "render_class", interrupted)
        with pytest.raises(KeyboardInterrupt):
            generate(spec, out, workers=1, progress=False, chunk=2)
    assert class_dirs(out) == ["00000", "00001"]
    partial = out / ".sweep" / "tmp" / "00002"
    assert sorted(p.name for p in partial.iterdir()) == ["00002_0000.png", "00002_0001.png"]
    assert json.loads((out / "sweep-dataset.json").read_text())["complete"] is False
    # make the leftover worse: a torn write, a garbage file and a stray file
    (partial / "00002_0001.png").write_bytes(reference["00002/00002_0001.png"][:40])
    (partial / "00002_0002.png").write_bytes(b"not a png")
    (partial / "stray.txt").write_text("left by the interrupted run")
    kept = {k: v for k, v in tree_stat(out).items() if k.startswith(("00000/", "00001/"))}

    summary = generate(spec, out, workers=1, progress=False)
    assert summary["resumed"] is True
    assert summary["skipped_classes"] == 2
    assert summary["written"] == 3 * 4
    after = tree_stat(out)
    assert {k: after[k] for k in kept} == kept
    assert tmp_leftovers(out) == []
    assert sorted(p.name for p in (out / "00002").iterdir()) == [
        f"00002_{i:04d}.png" for i in range(4)
    ]
    result = tree_bytes(out)
    assert result.keys() == reference.keys()
    assert [k for k in reference if result[k] != reference[k]] == []


# ----------------------------------------------------------------------------- --from STUDY:TRIAL
@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, run_sweep):
    """A tiny study (the free analytic proxy, 2 trials) and a failed trial that never rendered
    a dataset (number 2)."""
    import optuna
    from optuna.trial import TrialState, create_trial
    from spaces import ANALYTIC_SPACE

    from sweep.storage import make_storage

    cwd = tmp_path_factory.mktemp("from")
    space, db = cwd / "tiny.yaml", cwd / "studies.db"
    space.write_text(ANALYTIC_SPACE.format(study="tiny", trials=2))
    proc = run_sweep(
        "launch", str(space), "--storage", str(db), "--workers", "1", "--no-progress", cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="tiny", storage=make_storage(str(db), heartbeat=False))
    study.add_trial(create_trial(state=TrialState.FAIL))
    return cwd, db, study


def test_generate_from_a_trial_renders_its_dataset(tiny_study, run_sweep, tree_bytes):
    from sweep import record
    from sweep.trial import dataset_of

    cwd, db, study = tiny_study
    proc = run_sweep(
        "generate",
        "--from",
        "tiny:0",
        "--classes",
        "2",
        "--instances",
        "2",
        "--image-size",
        "32",
        "-o",
        "out",
        "--storage",
        str(db),
        "-j",
        "1",
        "--no-progress",
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    trial = study.trials[0]
    stored = trial.user_attrs[record.DATASET]
    first = proc.stdout.splitlines()[0]
    assert first == (
        f"trial 0 of tiny: visualatom dataset {stored['fingerprint']} (trained at "
        "1 classes x 1 images, 64 px) -> 2 classes x 2 images at 32 px"
    )
    # The same images as rendering that trial's dataset directly, byte for byte.
    spec = DatasetSpec(
        stored["generator"],
        classes=2,
        instances=2,
        image_size=32,
        seed=stored["seed"],
        params=stored["params"],
    )
    generate(spec, cwd / "direct", workers=1, progress=False)
    got, want = tree_bytes(cwd / "out"), tree_bytes(cwd / "direct")
    assert got.keys() == want.keys() and sum(k.endswith(".png") for k in got) == 4
    assert [k for k in got if k != "sweep-dataset.json" and got[k] != want[k]] == []
    for c in range(2):
        for i in range(2):
            img = cv2.imread(
                str(cwd / "out" / f"{c:05d}" / f"{c:05d}_{i:04d}.png"), cv2.IMREAD_UNCHANGED
            )
            np.testing.assert_array_equal(img, Dataset(spec).render_class(c, [i])[0])
    manifest = json.loads((cwd / "out" / "sweep-dataset.json").read_text())
    direct = json.loads(want["sweep-dataset.json"])
    assert manifest["fingerprint"] == direct["fingerprint"] and manifest["complete"] is True
    assert manifest["source"]["study"] == "tiny" and manifest["source"]["trial"] == 0
    assert manifest["source"]["trained"]["fingerprint"] == stored["fingerprint"]
    # The spec comes from the trial's stored attribute, checked against its fingerprint, and
    # the report draws its thumbnails with the same function.
    from reports import dataset_spec

    assert dataset_spec is dataset_of
    trained, why = dataset_of(trial.user_attrs, study.user_attrs)
    assert why is None and Dataset(trained).fingerprint == stored["fingerprint"]
    # Without sizes: the trial's own dataset.
    proc = run_sweep(
        "generate", "--from", "tiny:1", "-o", "own", "--storage", str(db), "--no-progress", cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    own = json.loads((cwd / "own" / "sweep-dataset.json").read_text())
    assert own["fingerprint"] == study.trials[1].user_attrs[record.DATASET]["fingerprint"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "tny:0"], "no study 'tny'"),
        (["--from", "tiny:99"], "--from: study 'tiny' has no trial 99 (its trials are 0 to 2)"),
        (["--from", "tiny:2"], "--from: trial 2 of 'tiny' (fail) has no dataset to render"),
        (["--from", "tiny"], "--from: 'tiny': write STUDY:TRIAL"),
        (["--from", "tiny:x"], "--from: 'tiny:x': write STUDY:TRIAL"),
        (["--from", ":3"], "--from: ':3': write STUDY:TRIAL"),
        (["rcdb", "--from", "tiny:0"], "drop 'rcdb'"),
        (["--from", "tiny:0", "--set", "freq1=[0,3]"], "drop --set"),
        (["--from", "tiny:0", "--classes", "0"], "classes: must be a positive integer"),
    ],
)
def test_generate_from_bad_input_is_one_line_exit_2(tiny_study, run_sweep, args, message):
    cwd, db, _ = tiny_study
    before = sorted(p.name for p in cwd.iterdir())
    proc = run_sweep("generate", *args, "--storage", str(db), "-o", "bad", cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in cwd.iterdir()) == before  # nothing written


def test_generate_from_needs_an_existing_storage(tmp_path, run_sweep):
    proc = run_sweep("generate", "--from", "tiny:0", "-o", "bad", cwd=tmp_path)
    assert proc.returncode == 2 and "--storage: no study database at" in proc.stderr
    proc = run_sweep("generate", "--storage", "x.db", "-o", "bad", cwd=tmp_path)
    assert proc.returncode == 2 and "--storage: only with --from STUDY:TRIAL" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_bar_label_says_what_its_numbers_count():
    # Issue 14, item 19: `visualatom 16x16` read as an image size; it was classes x instances.
    ds = Dataset(DatasetSpec("visualatom", classes=16, instances=4, image_size=32, seed=0))
    assert bar_label(ds) == "visualatom: 16 classes x 4 images, 32 px"


@pytest.mark.parametrize("data_seed", [None, 7])
def test_generate_from_reproduces_the_trained_dataset_with_and_without_data_seed(
    tmp_path, run_sweep, tree_bytes, data_seed
):
    # Issue 21, item 1: `data_seed` in the study file did nothing (the objective passed the
    # training seed), and `generate --from` would then have drawn another dataset than the
    # trial trained on. The trial's dataset is drawn from the file's data_seed when set, else
    # from its training seed; `generate --from` renders the same bytes.
    import optuna
    from spaces import ANALYTIC_SPACE

    from sweep import record
    from sweep.storage import make_storage

    space, db = tmp_path / "ds.yaml", tmp_path / "studies.db"
    extra = "seeds: [3]\nconfirm: false\n" + (f"data_seed: {data_seed}\n" if data_seed else "")
    space.write_text(ANALYTIC_SPACE.format(study="ds", trials=1) + extra)
    proc = run_sweep("launch", str(space), "--storage", str(db), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="ds", storage=make_storage(str(db), heartbeat=False))
    (trial,) = study.trials
    stored = trial.user_attrs[record.DATASET]
    assert stored["seed"] == (data_seed if data_seed is not None else 3), stored
    assert trial.user_attrs[record.DATA_SEEDS] == [stored["seed"]]
    args = ["--classes", "2", "--instances", "2", "--storage", str(db), "-j", "1"]
    proc = run_sweep(
        "generate", "--from", "ds:0", *args, "-o", "out", "--no-progress", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr  # (its fingerprint checked against the trial's)
    spec = DatasetSpec(
        stored["generator"],
        classes=2,
        instances=2,
        image_size=stored["image_size"],
        seed=stored["seed"],
        params=stored["params"],
    )
    generate(spec, tmp_path / "direct", workers=1, progress=False)
    got, want = tree_bytes(tmp_path / "out"), tree_bytes(tmp_path / "direct")
    assert got.keys() == want.keys()
    assert [k for k in got if k != "sweep-dataset.json" and got[k] != want[k]] == []
