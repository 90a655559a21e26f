"""Conformance of every registered generator to the contract of ``sweep.generators.base``.

Parametrized over ``sweep.generators.GENERATORS``: registering a generator puts it under these
tests with no other change. Published defaults, tiny datasets: a few seconds per generator.
"""

from __future__ import annotations

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
        parts = torch.cat([gen.render_torch(cls, seeds, c, inst[i : i + 1], "cpu")
                           for i in range(INSTANCES)])  # fmt: skip
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
