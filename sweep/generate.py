"""``sweep generate``: write a synthetic dataset to disk, resumably, in constant memory.

Layout of an output directory (an ImageFolder tree: ``torchvision.datasets.ImageFolder(out)``
reads it as is; grey PNGs load as RGB through PIL's ``convert``)::

    out/
      sweep-dataset.json     the resolved config, its fingerprint, the layout; "complete" flag
      classes.jsonl          one line per class: {"class": c, "params": {...}} (written at the end)
      00000/00000_0000.png   class 00000, instance 0000 (8-bit grey PNG)
      ...
      preview.png            with --preview: a contact sheet of a few classes x instances
      .sweep/                resume state while a run is unfinished (removed when complete)

A class is written into ``.sweep/tmp/`` and renamed into place when all its images are on disk,
so a class directory that exists is complete: an interrupted run is resumed by running the same
command again, and finished classes are not redone. Once the dataset is complete, ``.sweep/`` is
removed, so the directory holds only what ImageFolder expects plus the root files.
Memory stays constant in the dataset size: each worker holds one chunk of one class at a time.

``sweep generate --from STUDY:TRIAL`` renders the dataset a study's trial pre-trained on (the
winner's, say) at a chosen size: :func:`trial_dataset` reads it from the study (the trial's
``dataset`` attribute, fingerprint-checked by :func:`sweep.trial.dataset_of`) and the
manifest records where it came from (``source``).

Imports: numpy, OpenCV and rich (lazily); :mod:`sweep` (its version), :mod:`sweep.dataset`,
:mod:`sweep.errors`, :mod:`sweep.storage`; :mod:`sweep.engine.study` lazily (``--from``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from sweep.dataset import Dataset, DatasetSpec, resolve_device
from sweep.errors import SweepError
from sweep.storage import default_storage, mask_url, normalize_storage
from sweep.trial import dataset_of

MANIFEST = "sweep-dataset.json"
PARAMS_FILE = "classes.jsonl"
STATE_DIR = ".sweep"
PREVIEW_FILE = "preview.png"
FORMAT_VERSION = 1


def class_dirname(c: int) -> str:
    return f"{c:05d}"


def image_filename(c: int, i: int, instances: int) -> str:
    return f"{c:05d}_{i:0{max(4, len(str(instances - 1)))}d}.png"


def encode_png(image: np.ndarray) -> bytes:
    """8-bit grey PNG: no row filter and zlib level 1 (the fastest, and the smallest, here)."""
    import cv2

    ok, buf = cv2.imencode(
        ".png",
        image,
        [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE],
    )
    if not ok:  # pragma: no cover - cv2 fails only on invalid arrays
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def manifest_for(
    ds: Dataset, complete: bool, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    from sweep import __version__

    extra = {"source": source} if source else {}
    return {
        "format": "sweep-dataset",
        "format_version": FORMAT_VERSION,
        "sweep_version": __version__,
        "fingerprint": ds.fingerprint,
        "config": ds.config(),
        "layout": {
            "class_dir": "{class:05d}",
            "image": "{class:05d}_{instance:04d}.png",
            "params": PARAMS_FILE,
            "mode": "L",
        },
        "complete": complete,
        **extra,
    }


def check_output_dir(out: Path, ds: Dataset) -> bool:
    """Raise unless ``out`` is absent, empty, or an earlier run of this same dataset.

    Returns True when resuming an earlier run.
    """
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out: {out} exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return False
    manifest = out / MANIFEST
    if not manifest.is_file():
        raise SweepError(
            f"--out: {out} is not empty and is not a sweep dataset (no {MANIFEST}); "
            "choose a new or empty directory"
        )
    try:
        old = json.loads(manifest.read_text())
        old_fp = old["fingerprint"]
    except (ValueError, KeyError, TypeError):
        raise SweepError(f"{manifest}: unreadable manifest; choose a new directory") from None
    if old_fp != ds.fingerprint:
        changed = sorted(k for k, v in ds.config().items() if old.get("config", {}).get(k) != v)
        raise SweepError(
            f"--out: {out} holds a different dataset (fingerprint {old_fp}, this one "
            f"{ds.fingerprint}; differs in: {', '.join(changed) or 'version'}); "
            "choose another directory"
        )
    return True


# ----------------------------------------------------------------------------- --from
def parse_trial_ref(ref: str) -> tuple[str, int]:
    """``STUDY:TRIAL`` -> ``(study, trial number)``; a SweepError naming ``--from`` else."""
    name, sep, number = str(ref).rpartition(":")
    if not sep or not name or not number.isdigit():
        raise SweepError(
            key="--from",
            message=f"'{ref}': write STUDY:TRIAL, a study name and a trial number "
            "(e.g. visualatom-freq:12; 'sweep status STUDY' lists the trials)",
        )
    return name, int(number)


def existing_storage(storage: str | None, study: str) -> str:
    """The storage URL; a file storage that does not exist is an error (not a new file)."""
    url = normalize_storage(storage, "--storage") if storage else default_storage(study)
    for scheme in ("sqlite:///", "journal://"):
        if url.startswith(scheme) and not Path(url[len(scheme) :]).is_file():
            raise SweepError(
                f"--storage: no study database at {mask_url(url)}; name one with --storage "
                "(a .db or .log file, or a URL)"
            )
    return url


def trial_dataset(
    ref: str,
    storage: str | None = None,
    *,
    classes: int | None = None,
    instances: int | None = None,
    image_size: int | None = None,
    seed: int | None = None,
) -> tuple[DatasetSpec, dict[str, Any]]:
    """The dataset trial ``STUDY:TRIAL`` pre-trained on, at the size asked (``None``: as the
    trial had it), and its provenance for the manifest. Reads the study; writes nothing."""
    from sweep.engine.study import load_study_by_name

    name, number = parse_trial_ref(ref)
    url = existing_storage(storage, name)
    study = load_study_by_name(name, url)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    t = trials.get(number)
    if t is None:
        have = f"its trials are 0 to {max(trials)}" if trials else "it has no trials"
        raise SweepError(key="--from", message=f"study '{name}' has no trial {number} ({have})")
    spec, why = dataset_of(t.user_attrs, study.user_attrs)
    if spec is None:
        raise SweepError(
            key="--from",
            message=f"trial {number} of '{name}' ({t.state.name.lower()}) has no dataset to "
            f"render: {why}",
        )
    trained = Dataset(spec)
    sizes: dict[str, Any] = {
        "classes": classes,
        "instances": instances,
        "image_size": image_size,
        "seed": seed,
    }
    spec = dataclasses.replace(spec, **{k: v for k, v in sizes.items() if v is not None})
    Dataset(spec)  # the sizes asked for are valid before anything is said or written
    source = {
        "study": name,
        "trial": number,
        "state": t.state.name,
        "storage": mask_url(url),
        "trained": {"fingerprint": trained.fingerprint, **{k: trained.config()[k] for k in sizes}},
    }
    return spec, source


def command_spec(
    generator: str | None,
    params: dict[str, Any],
    from_trial: str | None,
    storage: str | None,
    **sizes: int | None,
) -> tuple[DatasetSpec, dict[str, Any] | None]:
    """What ``sweep generate`` renders: ``generator`` with ``params`` at ``sizes`` (classes,
    instances, image_size, seed; ``None``: the defaults 16, 16, 128, 0), or with ``from_trial``
    the dataset that trial stored (:func:`trial_dataset`, announced on stdout), and its source."""
    if from_trial is None:
        if storage is not None:
            raise SweepError(key="--storage", message="only with --from STUDY:TRIAL")
        given = {k: v for k, v in sizes.items() if v is not None}
        defaults = {"classes": 16, "instances": 16, "image_size": 128, "seed": 0}
        spec = DatasetSpec(generator or "visualatom", params=params, **{**defaults, **given})
        return spec, None
    if generator or params:
        flag = f"'{generator}'" if generator else "--set"
        raise SweepError(
            key="--from",
            message=f"the trial's dataset fixes the generator and its parameters; drop {flag}",
        )
    spec, source = trial_dataset(from_trial, storage, **sizes)
    t = source["trained"]
    print(
        f"trial {source['trial']} of {source['study']}: {spec.generator} dataset "
        f"{t['fingerprint']} (trained at {t['classes']} classes x {t['instances']} images, "
        f"{t['image_size']} px) -> {spec.classes} classes x {spec.instances} images at "
        f"{spec.image_size} px"
    )
    return spec, source


# ----------------------------------------------------------------------------- workers
_WORKER_DS: Dataset | None = None


def _single_threaded_encoder() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads only contend


def _init_worker(spec: DatasetSpec) -> None:
    global _WORKER_DS
    _single_threaded_encoder()
    _WORKER_DS = Dataset(spec)


def _write_class_worker(c: int, out: str, chunk: int) -> None:
    assert _WORKER_DS is not None
    write_class(_WORKER_DS, c, Path(out), chunk=chunk)


def write_class(
    ds: Dataset, c: int, out: Path, *, chunk: int = 64, device: str | None = None, pool=None
) -> None:
    """Render class ``c`` chunk by chunk into ``.sweep/tmp`` and move it into place; its
    parameters go to ``.sweep/classes`` (the launcher collects them into classes.jsonl)."""
    tmp = out / STATE_DIR / "tmp" / class_dirname(c)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for start in range(0, ds.instances, chunk):
        inst = np.arange(start, min(ds.instances, start + chunk))
        images = ds.render_class(c, inst, device=device)
        if device is not None:
            images = images.cpu().numpy()
        names = [tmp / image_filename(c, int(i), ds.instances) for i in inst]
        if pool is None:
            for name, image in zip(names, images, strict=True):
                name.write_bytes(encode_png(image))
        else:
            list(
                pool.map(
                    lambda a: a[0].write_bytes(encode_png(a[1])), zip(names, images, strict=True)
                )
            )
    _atomic_write(
        out / STATE_DIR / "classes" / f"{class_dirname(c)}.json",
        json.dumps({"class": c, "params": ds.class_params(c)}, sort_keys=True),
    )
    os.replace(tmp, out / class_dirname(c))


# ----------------------------------------------------------------------------- driver
def generate(
    spec: DatasetSpec,
    out: str | Path,
    *,
    workers: int | None = None,
    device: str | None = None,
    preview: bool = False,
    progress: bool = True,
    chunk: int = 64,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the dataset of ``spec`` under ``out`` (see the module docstring); return a summary.

    All input is validated before anything is written. ``source`` (where the spec came from,
    :func:`trial_dataset`) goes into the manifest.
    """
    ds = Dataset(spec)
    dev = resolve_device(device)
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"--workers: must be a positive integer, got {workers!r}")
    out = Path(out)
    resumed = check_output_dir(out, ds)

    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / MANIFEST, json.dumps(manifest_for(ds, False, source), indent=2))
    (out / STATE_DIR / "classes").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / STATE_DIR / "tmp", ignore_errors=True)
    done = {c for c in range(ds.classes) if (out / class_dirname(c)).is_dir()}
    todo = [c for c in range(ds.classes) if c not in done]

    t0 = time.perf_counter()
    with _progress(progress, len(ds), len(done) * ds.instances, ds) as advance:
        if dev is not None:
            with ThreadPoolExecutor(workers) as pool:
                for c in todo:
                    write_class(ds, c, out, chunk=max(chunk, 256), device=dev, pool=pool)
                    advance(ds.instances)
        elif workers == 1 or len(todo) <= 1:
            _single_threaded_encoder()
            for c in todo:
                write_class(ds, c, out, chunk=chunk)
                advance(ds.instances)
        else:
            _run_pool(spec, todo, out, min(workers, len(todo)), chunk, advance)
    elapsed = time.perf_counter() - t0

    params = _collected_params(out, ds)
    lines = [json.dumps({"class": c, "params": params[c]}, sort_keys=True) for c in sorted(params)]
    _atomic_write(out / PARAMS_FILE, "\n".join(lines) + "\n")
    _atomic_write(out / MANIFEST, json.dumps(manifest_for(ds, True, source), indent=2))
    shutil.rmtree(out / STATE_DIR, ignore_errors=True)
    if preview:
        write_preview(ds, out / PREVIEW_FILE)
    return {
        "out": str(out),
        "fingerprint": ds.fingerprint,
        "images": len(ds),
        "written": len(todo) * ds.instances,
        "resumed": resumed,
        "skipped_classes": len(done),
        "seconds": round(elapsed, 3),
        "preview": str(out / PREVIEW_FILE) if preview else None,
    }


def _collected_params(out: Path, ds: Dataset) -> dict[int, dict]:
    """Every class's parameters: from the per-class files of this run, the classes.jsonl of an
    earlier complete run, or (for a class killed between its rename and its parameter file)
    drawn again, which gives the same values."""
    params: dict[int, dict] = {}
    if (out / PARAMS_FILE).is_file():
        for line in (out / PARAMS_FILE).read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                params[int(rec["class"])] = rec["params"]
    for path in sorted((out / STATE_DIR / "classes").glob("*.json")):
        rec = json.loads(path.read_text())
        params[int(rec["class"])] = rec["params"]
    for c in range(ds.classes):
        if c not in params:
            params[c] = ds.class_params(c)
    return {c: params[c] for c in range(ds.classes)}


def _run_pool(spec, todo, out, workers, chunk, advance) -> None:
    ctx = get_context("spawn")  # no fork: safe with torch and numba threads in the parent
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(spec,)
    ) as pool:
        pending: set[Any] = set()
        queue = list(todo)
        try:
            # Keep at most 2 classes per worker in flight so an interrupt loses little.
            while queue or pending:
                while queue and len(pending) < 2 * workers:
                    pending.add(pool.submit(_write_class_worker, queue.pop(0), str(out), chunk))
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    f.result()
                    advance(spec.instances)
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def bar_label(ds: Dataset) -> str:
    """``visualatom: 16 classes x 16 images, 64 px``: the bar's label, which says what each
    number counts (``visualatom 16x16`` read as an image size)."""
    return f"{ds.generator.name}: {ds.classes} classes x {ds.instances} images, {ds.image_size} px"


class _progress:
    """A rich progress bar over images (a no-op when disabled)."""

    def __init__(self, enabled: bool, total: int, completed: int, ds: Dataset) -> None:
        self.enabled, self.total, self.completed, self.ds = enabled, total, completed, ds

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("images"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._p.__enter__()
        task = self._p.add_task(bar_label(self.ds), total=self.total, completed=self.completed)
        return lambda n: self._p.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self._p.__exit__(*exc)
        return False


def contact_sheet(tiles: np.ndarray, gap: int = 2, fill: int = 96) -> np.ndarray:
    """Arrange ``tiles`` of shape (rows, cols, h, w) into one grey image with gaps."""
    rows, cols, h, w = tiles.shape
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap), fill, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            y, x = gap + r * (h + gap), gap + c * (w + gap)
            sheet[y : y + h, x : x + w] = tiles[r, c]
    return sheet


def preview_tiles(ds: Dataset, rows: int = 8, cols: int = 8, tile: int = 128) -> np.ndarray:
    """Rows of classes (spread over the dataset) by instances, each downsampled to ``tile``."""
    import cv2

    classes = np.unique(np.linspace(0, ds.classes - 1, min(rows, ds.classes)).round().astype(int))
    n_inst = min(cols, ds.instances)
    t = min(tile, ds.image_size)
    tiles = np.empty((len(classes), n_inst, t, t), dtype=np.uint8)
    for r, c in enumerate(classes):
        for j, image in enumerate(ds.render_class(int(c), np.arange(n_inst))):
            tiles[r, j] = cv2.resize(image, (t, t), interpolation=cv2.INTER_AREA)
    return tiles


def write_preview(ds: Dataset, path: Path, rows: int = 8, cols: int = 8) -> Path:
    path.write_bytes(encode_png(contact_sheet(preview_tiles(ds, rows, cols))))
    return path
