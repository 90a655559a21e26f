"""Generator throughput and memory: one JSON line per generator on stdout.

    python benchmarks/generate.py                      # visualatom, 512 px, published ranges
    python benchmarks/generate.py --generator all      # one line per registered generator
    python benchmarks/generate.py --memory             # + peak RSS of `sweep generate`

Fields (rates are images per second; "per core" = one process, one thread):

* ``cpu_images_per_s_per_core``: rendering into memory (NumPy arrays), published ranges;
* ``cpu_png_images_per_s_per_core``: rendering + PNG encoding + writing files;
* ``reference_png_images_per_s_per_core``: an official-style renderer measured in the same run
  on the same core (radial generators only): a Python loop per vertex with Python's ``random``,
  one Pillow ``ImageDraw.line`` per segment on an RGB canvas, saved as PNG: our own re-statement
  of the official script's loops, so ``speedup_*_vs_reference`` is a same-hardware
  ratio. Its noise is the official call, ``noise.pnoise1`` at a uniform point, when the ``noise``
  package is installed (``pip install -e .[bench]``), else a table lookup (cheaper, so the ratio is
  then conservative); ``reference_noise`` says which.
  ``official_png_images_per_s_per_core_documented`` is the figure measured on the official script
  itself (shared/docs/generators.md);
* ``gpu_images_per_s``: the torch renderer on CUDA, when a GPU is present, rendering whole
  classes into device tensors (synchronised; first class excluded as warm-up);
* ``generate_peak_rss_mib`` (with ``--memory``): peak resident memory of a ``sweep generate``
  run (the launcher and its worker processes summed), sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sweep.dataset import Dataset, DatasetSpec  # noqa: E402
from sweep.generate import encode_png  # noqa: E402
from sweep.generators import list_generators  # noqa: E402
from sweep.generators._perlin import NOISE_UNIT, noise_table  # noqa: E402

OFFICIAL_DOCUMENTED = {"visualatom": 6.0}  # images/s/core incl. PNG, generators.md section 1.5


def _single_thread() -> None:
    import cv2
    import numba

    cv2.setNumThreads(1)
    numba.set_num_threads(1)


def bench_cpu(ds: Dataset, png_dir: Path | None) -> float:
    """Images/s rendering every class of ``ds`` (and writing PNGs when ``png_dir`` is set)."""
    ds.render_class(0, np.arange(1))  # JIT warm-up, not timed
    n = 0
    t0 = time.perf_counter()
    for c in range(ds.classes):
        images = ds.render_class(c)
        if png_dir is not None:
            for i, image in enumerate(images):
                (png_dir / f"{c:05d}_{i:04d}.png").write_bytes(encode_png(image))
        n += len(images)
    return n / (time.perf_counter() - t0)


def reference_radial(ds: Dataset, classes: list[int], seed: int = 0) -> tuple[float, str]:
    """Official-style renderer (see the module docstring): PNG images/s on one core, rendering
    instance 0 of each class in ``classes``; and the noise source it used."""
    from PIL import Image, ImageDraw

    try:  # the official scripts' own noise call, when the `noise` package is installed
        from noise import pnoise1

        source = "noise.pnoise1"
    except ImportError:  # a table lookup costs about a third of it
        table = (noise_table().astype(np.float64) * NOISE_UNIT).tolist()

        def pnoise1(x: float) -> float:
            return table[int(x * 6.5536)]

        source = "quantile table"
    gen = ds.generator
    rng = random.Random(seed)
    size = ds.image_size
    jitter = 1.0 if gen.name == "visualatom" else 2.0
    bg = (gen.background,) * 3
    t0 = time.perf_counter()
    for c in classes:
        cls = ds.class_params(c)
        q, k, eta, w = cls["vertices"], cls["orbits"], cls["noise"], cls["step"]
        n1, n2 = cls.get("freq1", 0), cls.get("freq2", 0)
        lam = gen.params.get("amplitude", 0.0) if gen.name == "visualatom" else 0.0
        img = Image.new("RGB", (size, size), bg)
        draw = ImageDraw.Draw(img)
        angle = 2 * math.pi / q
        xs = [
            math.cos(angle * i) * cls["radius"] * cls["oval_x"] + cls["center_x"] for i in range(q)
        ]
        ys = [
            math.sin(angle * i) * cls["radius"] * cls["oval_y"] + cls["center_y"] for i in range(q)
        ]
        xs.append(xs[0])
        ys.append(ys[0])
        for _ in range(k):
            grey = rng.randint(0, 255)
            # As the official loop: x noise for every vertex, then y noise, then the update.
            nx = []
            for i in range(q):
                wave = lam * math.sin(angle * i * n1) + lam * math.sin(angle * i * n2)
                nx.append(eta * (1 - jitter * pnoise1(rng.uniform(0, 10000))) + wave)
            ny = []
            for i in range(q):
                wave = lam * math.sin(angle * i * n1) + lam * math.sin(angle * i * n2)
                ny.append(eta * (1 - jitter * pnoise1(rng.uniform(0, 10000))) + wave)
            for i in range(q):
                xs[i] += math.cos(angle * i) * (nx[i] + w)
                ys[i] += math.sin(angle * i) * (ny[i] + w)
            xs[q], ys[q] = xs[0], ys[0]
            for i in range(q):
                draw.line((xs[i], ys[i], xs[i + 1], ys[i + 1]), fill=(grey,) * 3, width=1)
        img.save(io.BytesIO(), format="PNG")
    return len(classes) / (time.perf_counter() - t0), source


def ours_on(ds: Dataset, classes: list[int], png: bool, repeats: int = 5) -> float:
    """Our rate on exactly the reference's workload (instance 0 of each class), best of N."""
    best = 0.0
    one = np.arange(1)
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in classes:
            image = ds.render_class(c, one)[0]
            if png:
                encode_png(image)
        best = max(best, len(classes) / (time.perf_counter() - t0))
    return best


def bench_gpu(ds: Dataset) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"gpu_images_per_s": None}
    dev = "cuda"
    ds.render_class(0, device=dev)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    n = 0
    t0 = time.perf_counter()
    for c in range(1, ds.classes):
        n += ds.render_class(c, device=dev).shape[0]
    torch.cuda.synchronize()
    rate = n / (time.perf_counter() - t0)
    return {
        "gpu_images_per_s": round(rate, 1),
        "gpu_name": torch.cuda.get_device_name(),
        "gpu_classes": ds.classes - 1,
        "gpu_instances": ds.instances,
        "gpu_peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }


def _tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(x) for x in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def bench_memory(generator: str, classes: int, instances: int, size: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "sweep",
            "generate",
            generator,
            "-c",
            str(classes),
            "-n",
            str(instances),
            "-s",
            str(size),
            "-j",
            str(workers),
            "-o",
            f"{tmp}/ds",
            "--no-progress",
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss_kib(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        rc = proc.wait()
        done.set()
        sampler.join()
        elapsed = time.perf_counter() - t0
        if rc != 0:
            raise RuntimeError(f"sweep generate failed with status {rc}")
    n = classes * instances
    return {
        "generate_images": n,
        "generate_workers": workers,
        "generate_images_per_s": round(n / elapsed, 1),
        "generate_peak_rss_mib": round(peak / 1024, 1),
    }


def machine() -> dict:
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", default="visualatom", help="a generator name, or 'all'")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--classes", type=int, default=40, help="classes for the CPU rates")
    ap.add_argument("--instances", type=int, default=5, help="instances per class (CPU)")
    ap.add_argument("--reference-images", type=int, default=20)
    ap.add_argument("--gpu-classes", type=int, default=33)
    ap.add_argument("--gpu-instances", type=int, default=1000)
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--memory", action="store_true", help="measure `sweep generate` peak RSS")
    ap.add_argument("--memory-classes", type=int, default=6)
    ap.add_argument("--memory-instances", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    _single_thread()
    names = list_generators() if args.generator == "all" else [args.generator]
    info = machine()
    for name in names:
        spec = DatasetSpec(
            name,
            classes=args.classes,
            instances=args.instances,
            image_size=args.size,
            seed=args.seed,
        )
        ds = Dataset(spec)
        row: dict = {
            "generator": name,
            "version": ds.generator.version,
            "size": args.size,
            "classes": args.classes,
            "instances": args.instances,
            "params": "published defaults",
        }
        mem = bench_cpu(ds, None)
        with tempfile.TemporaryDirectory() as tmp:
            png = bench_cpu(ds, Path(tmp))
        row["cpu_images_per_s_per_core"] = round(mem, 1)
        row["cpu_png_images_per_s_per_core"] = round(png, 1)
        if name in ("visualatom", "rcdb") and args.reference_images > 0:
            # Same-hardware ratio on a matched workload: instance 0 of the same classes.
            matched = list(range(min(args.reference_images, ds.classes)))
            ref, source = reference_radial(ds, matched, args.seed)
            row["reference_images"] = len(matched)
            row["reference_noise"] = source
            row["reference_png_images_per_s_per_core"] = round(ref, 2)
            row["speedup_memory_vs_reference"] = round(ours_on(ds, matched, False) / ref, 1)
            row["speedup_png_vs_reference"] = round(ours_on(ds, matched, True) / ref, 1)
        if name in OFFICIAL_DOCUMENTED:
            off = OFFICIAL_DOCUMENTED[name]
            row["official_png_images_per_s_per_core_documented"] = off
            row["speedup_memory_vs_official_documented"] = round(mem / off, 1)
            row["speedup_png_vs_official_documented"] = round(png / off, 1)
        if not args.no_gpu:
            gspec = DatasetSpec(
                name,
                classes=args.gpu_classes,
                instances=args.gpu_instances,
                image_size=args.size,
                seed=args.seed,
            )
            row.update(bench_gpu(Dataset(gspec)))
        if args.memory:
            row.update(
                bench_memory(
                    name,
                    args.memory_classes,
                    args.memory_instances,
                    args.size,
                    min(2, os.cpu_count() or 1),
                )
            )
        row["machine"] = info
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
