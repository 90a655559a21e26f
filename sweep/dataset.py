"""Synthetic datasets as pure functions of a spec: the Python API of the generators.

>>> from sweep.dataset import Dataset, DatasetSpec
>>> ds = Dataset(DatasetSpec("visualatom", classes=4, instances=8, image_size=64, seed=0))
>>> images, labels = ds.arrays()            # uint8 (32, 64, 64), int64 (32,)
>>> batch = ds.render_class(2, device="cuda")  # torch.uint8 (8, 64, 64) on the GPU

Nothing here touches the disk; :mod:`sweep.generate` writes datasets to disk.
:func:`spec_from_attr` reads the spec a study's trial stored (its ``dataset`` attribute);
:func:`sweep.trial.dataset_of` checks it, or rebuilds an older trial's from the study's snapshot:
what ``sweep generate --from`` and the report's thumbnails render.

Imports: numpy, torch (lazily); :mod:`sweep.devices`, :mod:`sweep.errors`,
:mod:`sweep.generators`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from sweep.devices import torch_device
from sweep.errors import SweepError
from sweep.generators import get_generator
from sweep.seeding import Seeds


@dataclass(frozen=True)
class DatasetSpec:
    """What a synthetic dataset is: generator, parameter overrides, shape and seed."""

    generator: str = "visualatom"
    classes: int = 16
    instances: int = 16
    image_size: int = 128
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    #: instance blocks: 1 is a fixed dataset; E > 1 is fresh data for E pre-training epochs,
    #: block e holding instance indices ``e*instances .. (e+1)*instances - 1`` of every class
    #: (class parameters fixed, new instances each epoch; block 0 is the fixed dataset itself)
    epochs: int = 1


def _positive_int(name: str, value: Any, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise SweepError(f"{name}: must be a positive integer, got {value!r}")
    if value > maximum:
        raise SweepError(f"{name}: {value} is larger than the supported {maximum}")
    return int(value)


class Dataset:
    """A resolved, validated dataset spec; renders any class on the CPU or a torch device.

    Every image is a pure function of (seed, class index, instance index, parameters), so any
    subset can be rendered in any order, by any number of workers, with identical bytes.
    """

    def __init__(self, spec: DatasetSpec) -> None:
        self.classes = _positive_int("classes", spec.classes, 1_000_000)
        self.instances = _positive_int("instances", spec.instances, 1_000_000)
        self.epochs = _positive_int("epochs", spec.epochs, 100_000)
        if self.instances * self.epochs > 2**31 - 1:
            raise SweepError(
                f"epochs: {self.epochs} blocks of {self.instances} instances "
                "exceed the 2**31 instance indices of a class"
            )
        if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or spec.seed < 0:
            raise SweepError(f"seed: must be a non-negative integer, got {spec.seed!r}")
        self.spec = spec
        self.generator = get_generator(spec.generator, spec.params, image_size=spec.image_size)
        self.seeds = Seeds(spec.seed)
        self._class_cache: dict[int, dict] = {}

    @property
    def image_size(self) -> int:
        return self.generator.image_size

    def __len__(self) -> int:
        """Images in one block (the dataset when it is fixed)."""
        return self.classes * self.instances

    # ------------------------------------------------------------------ identity
    def config(self) -> dict[str, Any]:
        """The resolved config: every parameter value, JSON-serialisable (``epochs`` only for
        fresh data, so a fixed dataset's fingerprint is what it always was)."""
        out = {
            "generator": self.generator.name,
            "generator_version": self.generator.version,
            "params": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.generator.params.items()
            },
            "classes": self.classes,
            "instances": self.instances,
            "image_size": self.image_size,
            "seed": self.seeds.root,
            "background": self.generator.background,
        }
        if self.epochs > 1:
            out["epochs"] = self.epochs
        return out

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the resolved config: equal fingerprints mean byte-identical datasets."""
        blob = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ classes
    @cached_property
    def shared(self) -> dict[str, Any]:
        return self.generator.prepare(self.seeds)

    def class_params(self, c: int) -> dict[str, Any]:
        self._check_class(c)
        if c not in self._class_cache:
            self._class_cache[c] = self.generator.sample_class(self.seeds, c, self.shared)
        return self._class_cache[c]

    def _check_class(self, c: int) -> None:
        if not 0 <= c < self.classes:
            raise IndexError(f"class {c} out of range [0, {self.classes})")

    # ------------------------------------------------------------------ rendering
    def render_class(self, c: int, instances=None, device: Any = None):
        """Images of class ``c``: NumPy ``uint8 (n, S, S)``, or a torch tensor on ``device``."""
        inst = np.arange(self.instances) if instances is None else np.asarray(instances)
        top = self.instances * self.epochs
        if inst.size and (inst.min() < 0 or inst.max() >= top):
            raise IndexError(f"instances out of range [0, {top})")
        cls = self.class_params(c)
        if device is None:
            return self.generator.render(cls, self.seeds, c, inst)
        return self.generator.render_torch(cls, self.seeds, c, inst, device)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole dataset in memory: images ``uint8 (N, S, S)`` and labels ``int64 (N,)``."""
        s = self.image_size
        images = np.empty((len(self), s, s), dtype=np.uint8)
        for c in range(self.classes):
            images[c * self.instances : (c + 1) * self.instances] = self.render_class(c)
        labels = np.repeat(np.arange(self.classes, dtype=np.int64), self.instances)
        return images, labels

    def block(self, epoch: int) -> np.ndarray:
        """The instance indices of block ``epoch`` (fresh data: what epoch ``epoch`` trains on)."""
        if not 0 <= epoch < self.epochs:
            raise IndexError(f"epoch {epoch} out of range [0, {self.epochs})")
        return np.arange(epoch * self.instances, (epoch + 1) * self.instances)

    def tensors(self, device: Any = "cpu", epoch: int = 0, out=None):
        """Block ``epoch`` (the whole dataset when it is fixed) as torch tensors on ``device``:
        rendered there when it is a GPU, by the (faster) NumPy/Numba path when it is the CPU.
        ``out``: an image tensor of the right shape to render into (fresh data re-uses it)."""
        import torch

        dev = torch.device(device)
        if out is None:
            out = torch.empty(
                (len(self), self.image_size, self.image_size), dtype=torch.uint8, device=dev
            )
        images = out
        render_on = None if dev.type == "cpu" else dev
        inst = self.block(epoch)
        for c in range(self.classes):
            chunk = self.render_class(c, inst, device=render_on)
            if render_on is None:
                chunk = torch.from_numpy(chunk)
            images[c * self.instances : (c + 1) * self.instances] = chunk
        labels = torch.arange(self.classes, device=dev).repeat_interleave(self.instances)
        return images, labels

    def iter_classes(self, device: Any = None) -> Iterator[tuple[int, Any]]:
        for c in range(self.classes):
            yield c, self.render_class(c, device=device)


def resolve_device(device: str | None) -> str | None:
    """``None``/"numpy" -> CPU NumPy path; "auto" -> "cuda" when available else NumPy;
    anything else must be a torch device that exists."""
    if device in (None, "", "numpy"):
        return None
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else None
    return str(torch_device(device, "--device", "numpy, auto, cpu, cuda or cuda:N"))


# ----------------------------------------------------------------------------- a trial's dataset
def spec_from_attr(d: Mapping[str, Any]) -> DatasetSpec:
    """The :class:`DatasetSpec` of a trial's stored ``dataset`` attribute
    (:data:`sweep.record.DATASET`; :func:`sweep.trial.dataset_of` checks its fingerprint)."""
    return DatasetSpec(
        d["generator"],
        classes=int(d["classes"]),
        instances=int(d["instances"]),
        image_size=int(d["image_size"]),
        seed=int(d["seed"]),
        params=dict(d.get("params") or {}),
        epochs=int(d.get("epochs") or 1),
    )
