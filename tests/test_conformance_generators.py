"""Conformance of every registered generator to the contract of ``sweep.generators.base``.

Parametrized over ``sweep.generators.GENERATORS``: registering a generator puts it under these
tests with no other change. Published defaults, tiny datasets: a few seconds per generator.

A registered generator must also have its bytes pinned (``GOLDEN``, one digest per render path):
a dataset's fingerprint names the generator's ``version``, not its bytes, so a change of bytes
must come with a new version.
"""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np
import pytest

from sweep.dataset import Dataset, DatasetSpec
from sweep.generate import generate
from sweep.generators import GENERATORS, get_generator
from sweep.generators.base import Generator
from sweep.seeding import Seeds

torch = pytest.importorskip("torch")

NAMES = GENERATORS.names()
SIZE, CLASSES, INSTANCES = 48, 2, 3


def spec(name: str, seed: int = 3, **kw) -> DatasetSpec:
    shape = {"classes": CLASSES, "instances": INSTANCES, "image_size": SIZE, **kw}
    return DatasetSpec(name, seed=seed, **shape)


@pytest.fixture
def one_thread():
    """torch CPU ops on one thread: a busy 2-core test machine stalls OpenMP barriers."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_the_registry_is_not_empty_and_every_entry_is_a_generator():
    assert NAMES
    for name in NAMES:
        cls = GENERATORS.get(name)
        assert issubclass(cls, Generator) and cls.name == name
        assert cls.version and cls.summary and cls.reference and cls.schema
        json.dumps(cls.describe())  # the schema as plain data


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_bytes(name):
    a_images, a_labels = Dataset(spec(name)).arrays()
    b_images, b_labels = Dataset(spec(name)).arrays()  # a fresh generator and fresh classes
    assert a_images.dtype == np.uint8 and a_images.shape == (CLASSES * INSTANCES, SIZE, SIZE)
    assert np.array_equal(a_images, b_images) and np.array_equal(a_labels, b_labels)
    assert Dataset(spec(name)).fingerprint == Dataset(spec(name)).fingerprint
    other, _ = Dataset(spec(name, seed=4)).arrays()
    assert not np.array_equal(a_images, other)


@pytest.mark.parametrize("name", NAMES)
def test_an_image_does_not_depend_on_its_batch(name):
    ds = Dataset(spec(name))
    whole = ds.render_class(1)
    one_by_one = np.concatenate([ds.render_class(1, [i]) for i in range(INSTANCES)])
    assert np.array_equal(whole, one_by_one)


@pytest.mark.parametrize("name", NAMES)
def test_class_parameters_are_json_and_reproduce_the_images(name):
    gen = get_generator(name, image_size=SIZE)
    seeds = Seeds(5)
    shared = gen.prepare(seeds)
    json.dumps(shared)  # the dataset-level state is JSON too
    for c in range(CLASSES):
        cls = gen.sample_class(seeds, c, shared)
        text = json.dumps(cls, sort_keys=True)
        inst = np.arange(INSTANCES)
        again = gen.render(json.loads(text), seeds, c, inst)
        assert np.array_equal(gen.render(cls, seeds, c, inst), again)


@pytest.mark.parametrize("name", NAMES)
def test_torch_path_on_the_cpu_agrees_with_the_cpu_path(name, one_thread):
    # Tolerance of tests/test_fractal.py (the looser of the per-generator device tests): under
    # 1% of pixels differ, where float rounding moves a point across a pixel border.
    gen = get_generator(name, image_size=SIZE)
    seeds = Seeds(9)
    shared = gen.prepare(seeds)
    inst = np.arange(INSTANCES)
    for c in range(CLASSES):
        cls = gen.sample_class(seeds, c, shared)
        cpu = gen.render(cls, seeds, c, inst)
        dev = gen.render_torch(cls, seeds, c, inst, "cpu")
        assert dev.dtype == torch.uint8 and tuple(dev.shape) == cpu.shape
        assert (dev.numpy() != cpu).mean() < 0.01
        parts = torch.cat(
            [gen.render_torch(cls, seeds, c, inst[i : i + 1], "cpu") for i in range(INSTANCES)]
        )
        assert torch.equal(dev, parts)  # batch-independent on the device path too


@pytest.mark.parametrize("name", NAMES)
def test_generate_writes_identical_bytes_with_one_and_two_workers(name, tmp_path, tree_bytes):
    s = spec(name, classes=2, instances=2, image_size=32)
    one = generate(s, tmp_path / "one", workers=1, progress=False)
    two = generate(s, tmp_path / "two", workers=2, progress=False)
    assert one["written"] == two["written"] == 4
    a, b = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    assert sum(n.endswith(".png") for n in a) == 4
    assert a == b


# ----------------------------------------------------------------------------- pinned bytes
# Golden digests pin the bytes of every generator on every render path: the first 16 hex digits
# of the sha256 of classes 0..PIN_CLASSES-1 rendered at PIN_SIZE px from Seeds(PIN_SEED) with
# the published parameters. A dataset's fingerprint names the generator's `version`, not its
# bytes: when a change alters these bytes, bump the generator's `version` and pin the new
# digests under it (datasets made before the change are then told apart by fingerprint).
# Keyed by (name, version): a registered generator without pins for its version fails.
#
# "numpy" is `render`; "torch" is `render_torch` on the CPU device (the radial generators' eager
# backend). CUDA and Triton bytes are not pinned: no GPU here; the device tests of
# test_radial.py and test_fractal.py bound their disagreement with the CPU path.
PIN_SIZE, PIN_SEED, PIN_CLASSES = 96, 2024, 3
PATHS = ("numpy", "torch")
#: instances rendered per class: 0..2, and where an instance index has more parts than a weight
#: variant, instances that reach the others
PIN_INSTANCES = {
    "fractaldb": (0, 1, 2, 25, 50, 75, 100),  # variants 0-2; flips 1-3, render 1 of variant 0
    "exfractaldb": (0, 1, 2, 145, 1740),  # variants 0-2; view 1, round 1 of variant 0
}
GOLDEN = {
    ("visualatom", "2"): {"numpy": "24ebcaa8fc4d41b3", "torch": "24ebcaa8fc4d41b3"},
    ("rcdb", "2"): {"numpy": "c8ccb9d88172298d", "torch": "c8ccb9d88172298d"},
    ("fractaldb", "1"): {"numpy": "a29506efdf332d18", "torch": "a29506efdf332d18"},
    ("1p-frac", "1"): {"numpy": "2f558d0aae356605", "torch": "2f558d0aae356605"},
    ("exfractaldb", "1"): {"numpy": "63a51a1e466e8d3e", "torch": "63a51a1e466e8d3e"},
}


def _bump_hint(name: str) -> str:
    cls = GENERATORS.get(name)
    return (
        f"if the change is intended, bump `version` of {cls.__name__} ({cls.__module__}) and "
        f"pin the new digests under the new version in GOLDEN "
        f"(tests/test_conformance_generators.py); otherwise it is a regression"
    )


@functools.cache
def _pin_classes(name: str) -> tuple[dict, ...]:
    """The pinned classes of ``name`` (sampled once, shared by the render paths)."""
    gen = get_generator(name, image_size=PIN_SIZE)
    seeds = Seeds(PIN_SEED)
    shared = gen.prepare(seeds)
    return tuple(gen.sample_class(seeds, c, shared) for c in range(PIN_CLASSES))


def pinned_digest(name: str, path: str) -> str:
    """First 16 hex digits of the sha256 of the pinned batch of ``name`` on ``path``."""
    gen = get_generator(name, image_size=PIN_SIZE)
    seeds = Seeds(PIN_SEED)
    inst = np.array(PIN_INSTANCES.get(name, (0, 1, 2)), dtype=np.int64)
    digest = hashlib.sha256()
    for c, cls in enumerate(_pin_classes(name)):
        if path == "numpy":
            images = gen.render(cls, seeds, c, inst)
        else:
            images = gen.render_torch(cls, seeds, c, inst, "cpu").numpy()
        assert images.dtype == np.uint8 and images.shape == (len(inst), PIN_SIZE, PIN_SIZE)
        digest.update(images.tobytes())
    return digest.hexdigest()[:16]


def test_every_registered_generator_has_pinned_digests_for_its_version():
    current = {(name, GENERATORS.get(name).version) for name in NAMES}
    for name, version in sorted(current - set(GOLDEN)):
        pytest.fail(
            f"{name} v{version} has no pinned digests: add GOLDEN[({name!r}, {version!r})] "
            f"with one digest per path {PATHS} (pinned_digest(name, path) computes them); "
            f"a later change of its bytes must then bump its `version`"
        )
    stale = sorted(set(GOLDEN) - current)
    assert not stale, f"GOLDEN pins versions no registered generator has: {stale}"
    for key, pins in GOLDEN.items():
        assert set(pins) == set(PATHS), f"GOLDEN[{key}] must pin every path {PATHS}"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", NAMES)
def test_bytes_are_pinned_per_version(name, path, one_thread):
    version = GENERATORS.get(name).version
    pins = GOLDEN.get((name, version))
    assert pins is not None, f"{name} v{version} has no pinned digests in GOLDEN"
    got = pinned_digest(name, path)
    assert got == pins[path], (
        f"{name} v{version}: the bytes of the {path} render path changed (digest {got}, pinned "
        f"{pins[path]}); {_bump_hint(name)}: datasets made under v{version} would no longer "
        f"be reproduced under their fingerprint"
    )
