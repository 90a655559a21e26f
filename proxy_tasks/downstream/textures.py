"""The ``textures`` downstream: crops of the images bundled inside the scikit-image wheel.

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

Imports: numpy, OpenCV, Pillow (lazily); :mod:`proxy_tasks.downstream.base`,
:mod:`sweep.errors`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from proxy_tasks.downstream.base import Downstream, LoadRequest, choose, finish, materialise
from sweep.errors import SweepError
from sweep.seeding import Seeds

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


def load_textures(req: LoadRequest) -> Downstream:
    """Seeded crops, train from the left halves and test from the right halves."""
    seeds = Seeds(req.seed)
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
        cap = req.max_train if split == "train" else req.max_test
        index = choose(labels, cap, seeds.rng("textures", "order", split), "textures", split)

        def crop(i, boxes=boxes, labels=labels):
            x0, y0, x1, y1 = boxes[i]
            return images[labels[i]][y0:y1, x0:x1]

        x = materialise("textures", crop, index, req.image_size, req.in_chans)
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
    return finish(req, classes, parts, info)


class Textures:
    """The ``textures`` entry of ``DOWNSTREAMS`` (offline)."""

    name = "textures"
    summary = "16 images bundled with scikit-image, left/right-half crops, 1600 / 3200"
    needs_root = False
    can_download = False

    def load(self, req: LoadRequest) -> Downstream:
        return load_textures(req)


TEXTURES = Textures()
