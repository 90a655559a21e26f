"""Conformance of every registered downstream dataset to
:class:`proxy_tasks.downstream.DownstreamSource`.

Parametrized over ``proxy_tasks.downstream.DOWNSTREAMS``: registering a dataset puts it under
these tests with no other change. Datasets that ship inside wheels are loaded (tiny capped splits);
datasets that need data on disk are loaded only when ``SWEEP_TEST_ROOT_<NAME>`` (for example
``SWEEP_TEST_ROOT_CIFAR10``) names a root holding it, and skipped with that reason otherwise;
their errors without data are always checked (one line, nothing downloaded or written).
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch

from proxy_tasks.downstream import (
    DOWNSTREAMS,
    Downstream,
    DownstreamSource,
    clear_cache,
    load_downstream,
)
from sweep.errors import SweepError

NAMES = DOWNSTREAMS.names()
SIZE, CAP = 16, 200


def root_variable(name: str) -> str:
    return f"SWEEP_TEST_ROOT_{name.upper().replace('-', '_')}"


def root_for(name: str) -> str | None:
    """None for bundled data; the root from the environment, or a skip, for data on disk."""
    if not DOWNSTREAMS.get(name).needs_root:
        return None
    root = os.environ.get(root_variable(name))
    if root is None:
        pytest.skip(
            f"downstream '{name}' needs its data on disk (root=); set "
            f"{root_variable(name)} to a root holding it"
        )
    return root


def load(name: str, root: str | None, **kw) -> Downstream:
    args = {"image_size": SIZE, "in_chans": 1, "seed": 0, "max_train": CAP, "max_test": CAP}
    return load_downstream(name, root=root, **{**args, **kw})


def test_the_registry_is_not_empty_and_every_entry_is_a_source():
    assert NAMES
    for name in NAMES:
        source = DOWNSTREAMS.get(name)
        assert isinstance(source, DownstreamSource) and source.name == name
        assert source.summary and isinstance(source.summary, str)
        assert isinstance(source.needs_root, bool) and isinstance(source.can_download, bool)
    assert any(not DOWNSTREAMS.get(n).needs_root for n in NAMES)  # something works offline


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chans", [1, 3])
def test_tiny_splits_have_the_right_shapes_dtypes_and_labels(name, chans):
    ds = load(name, root_for(name), in_chans=chans)
    assert isinstance(ds, Downstream) and ds.name == name
    assert ds.num_classes >= 2 and len(ds.info["classes"]) == ds.num_classes
    for split in ("train", "test"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        assert 0 < len(x) <= CAP and x.shape == (len(x), chans, SIZE, SIZE)
        assert x.dtype == torch.uint8 and x.device.type == "cpu" and x.is_contiguous()
        assert y.dtype == torch.int64 and y.shape == (len(x),)
        assert 0 <= int(y.min()) and int(y.max()) < ds.num_classes
        assert ds.info[f"num_{split}"] == len(x) and len(ds.info[f"{split}_index"]) == len(x)
        assert sum(ds.info[f"{split}_per_class"]) == len(x)
    json.dumps(ds.provenance())  # small and JSON-ready, for reports


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_bytes(name):
    root = root_for(name)
    first = load(name, root, seed=7)
    assert load(name, root, seed=7) is first  # cached in-process
    clear_cache()
    again = load(name, root, seed=7)
    assert again is not first
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(again, field), getattr(first, field)), field


@pytest.mark.parametrize("name", NAMES)
def test_no_test_image_is_a_train_image(name):
    if DOWNSTREAMS.get(name).needs_root:
        pytest.skip(f"downstream '{name}' keeps the official split of its data on disk")
    ds = load(name, None, max_train=None)  # the whole train split at 16 px

    def digests(x):
        return {hashlib.sha1(img.numpy().tobytes()).digest() for img in x}

    assert not digests(ds.x_test) & digests(ds.x_train)


@pytest.mark.parametrize("name", [n for n in NAMES if DOWNSTREAMS.get(n).needs_root])
def test_missing_data_is_a_one_line_error_and_nothing_is_fetched(name, tmp_path):
    for root in (None, tmp_path):
        with pytest.raises(SweepError, match=rf"downstream '{name}'") as info:
            load_downstream(name, image_size=SIZE, root=root)
        assert "\n" not in str(info.value) and "root" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing was downloaded or written
