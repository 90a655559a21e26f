"""What every downstream source shares: the :class:`Downstream` result, the
:class:`DownstreamSource` protocol, the load request, and the split and pixel rules that turn a
pool of full-resolution images into uint8 tensors (see :mod:`proxy_tasks.downstream`).

Imports: numpy, OpenCV, torch; :mod:`sweep.errors`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
import torch

from sweep.errors import SweepError
from sweep.seeding import Seeds


@dataclass(frozen=True, eq=False)
class Downstream:
    """A downstream dataset in memory: uint8 CPU images ``(N, C, S, S)``, int64 labels.

    Cached and shared between callers: never modify the tensors in place.
    """

    name: str
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    info: dict

    def provenance(self) -> dict[str, Any]:
        """``info`` without its array-valued entries (indices, boxes): small and JSON-ready."""
        return {k: v for k, v in self.info.items() if not isinstance(v, np.ndarray)}

    def __repr__(self) -> str:
        return (
            f"Downstream({self.name!r}, classes={self.num_classes}, "
            f"train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)})"
        )


@dataclass(frozen=True)
class LoadRequest:
    """Validated arguments of one :func:`~proxy_tasks.downstream.load_downstream` call."""

    name: str
    image_size: int
    in_chans: int
    root: str | None  # absolute; None for sources that need no root
    seed: int
    max_train: int | None
    max_test: int | None
    download: bool  # False for sources that need no root


@runtime_checkable
class DownstreamSource(Protocol):
    """An entry of ``proxy_tasks.downstream.DOWNSTREAMS``.

    ``needs_root``: the data lives on disk under ``root=`` (otherwise it ships inside an
    installed wheel and ``root``/``download`` are ignored); ``can_download``: ``download=True``
    may fetch it into ``root``. ``load`` returns the dataset or raises a one-line SweepError
    naming the source and the fix.
    """

    name: str
    summary: str
    needs_root: bool
    can_download: bool

    def load(self, req: LoadRequest) -> Downstream: ...


@dataclass
class Pool:
    """Full-resolution images of one dataset, before the split is materialised.

    Either one pool (``images``/``labels``, split per class by ``train_per_class`` or
    ``train_fraction``) or an official split (``images``/``labels`` for train,
    ``test_images``/``test_labels`` for test). Images are an array ``(N, H, W[, 3])`` or a
    callable ``i -> array`` that reads one image from disk.
    """

    info: dict
    classes: list[str]
    images: Any
    labels: np.ndarray
    count: int
    test_images: Any = None
    test_labels: np.ndarray | None = None
    test_count: int = 0
    train_per_class: int | None = None
    train_fraction: float | None = None


@dataclass(frozen=True)
class PoolSource:
    """A source whose data is one :class:`Pool` (read by ``read``), split by :func:`assemble`."""

    name: str
    summary: str
    needs_root: bool
    can_download: bool
    read: Callable[[LoadRequest], Pool]

    def load(self, req: LoadRequest) -> Downstream:
        return assemble(req, self.read(req), Seeds(req.seed))


# ----------------------------------------------------------------------------- splitting


def stratified_split(
    labels: np.ndarray, num_classes: int, seeds: Seeds, name: str, per_class, fraction
) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a seeded permutation; its head goes to train, its tail to test."""
    train, test = [], []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        perm = members[seeds.rng(name, "split", c).permutation(len(members))]
        k = per_class if per_class is not None else round(fraction * len(members))
        k = min(k, len(members))
        train.append(perm[:k])
        test.append(perm[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def allocate(counts: np.ndarray, cap: int) -> np.ndarray:
    """Share ``cap`` among classes in proportion to ``counts`` (largest remainder first)."""
    total = int(counts.sum())
    exact = counts * cap / total
    quota = np.floor(exact).astype(np.int64)
    rest = cap - int(quota.sum())
    order = np.lexsort((np.arange(len(counts)), -(exact - quota)))  # largest remainder first
    quota[order[:rest]] += 1
    return np.minimum(quota, counts)


def choose(labels: np.ndarray, cap: int | None, rng, name: str, split: str) -> np.ndarray:
    """Positions into ``labels``: a stratified subset of at most ``cap``, in a seeded order."""
    n = len(labels)
    if cap is not None and cap < n:
        present = np.unique(labels)
        if cap < len(present):
            raise SweepError(
                f"downstream '{name}': max_{split}={cap} is below its {len(present)} classes; "
                f"pass max_{split} >= {len(present)} (or None for the whole split)"
            )
        counts = np.array([np.count_nonzero(labels == c) for c in present])
        quota = allocate(counts, cap)
        chosen = []
        for c, k in zip(present, quota, strict=True):
            members = np.flatnonzero(labels == c)
            chosen.append(np.sort(rng.choice(members, size=int(k), replace=False)))
        keep = np.concatenate(chosen)
    else:
        keep = np.arange(n)
    return keep[rng.permutation(len(keep))]


# ----------------------------------------------------------------------------- pixels


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize: area when shrinking, bilinear when enlarging."""
    h, w = img.shape[:2]
    if h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        img = img[top : top + side, left : left + side]
    side = img.shape[0]
    if side == size:
        return np.ascontiguousarray(img)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=interp)


def to_channels(img: np.ndarray, in_chans: int) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB -> (H, W) grey for in_chans 1, (H, W, 3) RGB for 3."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if in_chans == 1:
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def materialise(name, get, index: np.ndarray, size: int, in_chans: int) -> np.ndarray:
    """Images ``get(i)`` for ``i`` in ``index`` -> uint8 ``(len(index), in_chans, size, size)``."""
    out = np.empty((len(index), in_chans, size, size), dtype=np.uint8)
    for j, i in enumerate(index):
        img = np.asarray(get(int(i)))
        if img.dtype != np.uint8:
            raise SweepError(
                f"downstream '{name}': image {i} has {img.dtype} pixels; only 8-bit images are "
                "supported (convert the files to 8-bit PNG or JPEG)"
            )
        if in_chans == 1:  # grey first: the resize then touches one channel
            out[j, 0] = resize_square(to_channels(img, 1), size)
        else:
            out[j] = to_channels(resize_square(img, size), 3).transpose(2, 0, 1)
    return out


# ----------------------------------------------------------------------------- assembling


def assemble(req: LoadRequest, src: Pool, seeds: Seeds) -> Downstream:
    """Split ``src`` (its own pool, stratified; or its official split), cap, shuffle, resize."""
    name = req.name
    num_classes = len(src.classes)
    if src.test_images is None:  # one pool: stratified split, then optional caps
        tr, te = stratified_split(
            src.labels, num_classes, seeds, name, src.train_per_class, src.train_fraction
        )
        pools: dict[str, tuple[Any, Any, Any]] = {
            "train": (src.images, src.labels, tr),
            "test": (src.images, src.labels, te),
        }
    else:  # the official split
        pools = {
            "train": (src.images, src.labels, np.arange(src.count)),
            "test": (src.test_images, src.test_labels, np.arange(src.test_count)),
        }
    parts = {}
    for split, (images, labels, pool) in pools.items():
        cap = req.max_train if split == "train" else req.max_test
        index = pool[choose(labels[pool], cap, seeds.rng(name, "order", split), name, split)]
        get = images if callable(images) else images.__getitem__
        x = materialise(name, get, index, req.image_size, req.in_chans)
        parts[split] = (x, labels[index], index, None)
    return finish(req, src.classes, parts, src.info)


def finish(req: LoadRequest, classes, parts, info) -> Downstream:
    """The :class:`Downstream` of materialised ``parts`` (split -> (x, y, index, boxes))."""
    num_classes = len(classes)
    tensors = {}
    full_info = {"name": req.name, **info, "classes": list(classes), "seed": req.seed}
    full_info.update(image_size=req.image_size, in_chans=req.in_chans)
    for split, (x, y, index, boxes) in parts.items():
        tensors[f"x_{split}"] = torch.from_numpy(x)
        tensors[f"y_{split}"] = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
        full_info[f"num_{split}"] = len(y)
        full_info[f"{split}_per_class"] = np.bincount(y, minlength=num_classes).tolist()
        index = np.asarray(index, dtype=np.int64)
        index.setflags(write=False)
        full_info[f"{split}_index"] = index
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.int64)
            boxes.setflags(write=False)
            full_info[f"{split}_boxes"] = boxes
    return Downstream(name=req.name, num_classes=num_classes, info=full_info, **tensors)
