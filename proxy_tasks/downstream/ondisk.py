"""Downstream datasets on disk (``root=``); CIFAR may be downloaded into it (``download=True``,
the only network access of any downstream).

``cifar10`` / ``cifar100``
    ``torchvision.datasets.CIFAR10`` / ``CIFAR100``: 32x32 RGB, 10 / 100 classes, the official
    split, 50000 train / 10000 test. ``root`` is the directory holding ``cifar-10-batches-py`` (or
    ``cifar-100-python``). Nothing is downloaded unless ``download=True``, which fetches the
    archive into ``root`` once.
``imagefolder``
    ``torchvision.datasets.ImageFolder`` trees: ``<root>/train/<class>/*.png`` for training and
    ``<root>/val/<class>/...`` (or ``<root>/test/...`` when there is no ``val``) for testing; both
    must have the same class folders. The official split is kept.

Imports: numpy, torchvision (lazily); :mod:`proxy_tasks.downstream.base`, :mod:`sweep.errors`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from proxy_tasks.downstream.base import LoadRequest, Pool, PoolSource
from sweep.errors import SweepError

#: name -> (torchvision class, pretty name, folder under root)
CIFAR = {
    "cifar10": ("CIFAR10", "CIFAR-10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "CIFAR-100", "cifar-100-python"),
}


def cifar_pool(req: LoadRequest) -> Pool:
    """CIFAR-10/100 under ``req.root`` (downloaded there first when ``req.download``)."""
    name, root, download = req.name, req.root, req.download
    cls_name, pretty, folder = CIFAR[name]
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
    return Pool(
        info,
        list(train.classes),
        train.data,
        np.asarray(train.targets, dtype=np.int64),
        len(train.targets),
        test_images=test.data,
        test_labels=np.asarray(test.targets, dtype=np.int64),
        test_count=len(test.targets),
    )


def imagefolder_pool(req: LoadRequest) -> Pool:
    """An ImageFolder tree under ``req.root``: train/ and val/ (or test/)."""
    root = req.root
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
    return Pool(
        info,
        list(train.classes),
        loader(train),
        np.asarray(train.targets, dtype=np.int64),
        len(train.samples),
        test_images=loader(test),
        test_labels=np.asarray(test.targets, dtype=np.int64),
        test_count=len(test.samples),
    )


CIFAR10 = PoolSource(
    "cifar10",
    "torchvision CIFAR-10 under root, 50000 / 10000",
    needs_root=True,
    can_download=True,
    read=cifar_pool,
)
CIFAR100 = PoolSource(
    "cifar100",
    "torchvision CIFAR-100 under root, 50000 / 10000",
    needs_root=True,
    can_download=True,
    read=cifar_pool,
)
IMAGEFOLDER = PoolSource(
    "imagefolder",
    "an ImageFolder tree under root (train/, val/ or test/)",
    needs_root=True,
    can_download=False,
    read=imagefolder_pool,
)
