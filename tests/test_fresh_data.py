"""Fresh data every epoch (``recipe.fresh_data``): new instances of every class per pre-training
epoch, class parameters fixed, deterministic from the data seed; a trial with it completes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_proxy import TINY

from proxy_tasks import run_trial
from proxy_tasks.recipe import make_recipe
from proxy_tasks.spec import TrialSpec
from sweep.dataset import Dataset, DatasetSpec, spec_from_trial

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow


def _ds(generator="visualatom", epochs=3, seed=0):
    return Dataset(
        DatasetSpec(generator, classes=3, instances=4, image_size=32, seed=seed, epochs=epochs)
    )


@pytest.mark.parametrize("generator", ["visualatom", "rcdb", "fractaldb"])
def test_blocks_change_across_epochs_and_repeat_for_the_same_seed(generator):
    ds = _ds(generator)
    blocks = [ds.tensors("cpu", epoch=e)[0].numpy() for e in range(3)]
    again = _ds(generator).tensors("cpu", epoch=2)[0].numpy()
    assert np.array_equal(blocks[2], again)  # the same seed: the same bytes
    for a, b in ((0, 1), (1, 2), (0, 2)):
        for c in range(3):  # every class gets new images each epoch
            sl = slice(c * 4, (c + 1) * 4)
            assert not np.array_equal(blocks[a][sl], blocks[b][sl]), (generator, a, b, c)
    # Block 0 is the fixed dataset: the same images, and the same classes throughout.
    fixed = _ds(generator, epochs=1)
    assert np.array_equal(blocks[0], fixed.tensors("cpu")[0].numpy())
    assert [ds.class_params(c) for c in range(3)] == [fixed.class_params(c) for c in range(3)]
    # Another data seed: other images.
    assert not np.array_equal(blocks[1], _ds(generator, seed=1).tensors("cpu", epoch=1)[0].numpy())


def test_blocks_render_into_a_buffer_and_are_range_checked():
    ds = _ds()
    buf = torch.zeros((12, 32, 32), dtype=torch.uint8)
    x, y = ds.tensors("cpu", epoch=1, out=buf)
    assert x is buf and buf.any()
    assert y.tolist() == [c for c in range(3) for _ in range(4)]
    with pytest.raises(IndexError, match=r"epoch 3 out of range \[0, 3\)"):
        ds.block(3)
    with pytest.raises(IndexError):
        _ds(epochs=1).render_class(0, [4])  # a fixed dataset has no block 1


def test_fingerprint_names_the_fresh_blocks_and_a_fixed_one_is_unchanged():
    fixed, fresh = _ds(epochs=1), _ds(epochs=3)
    assert "epochs" not in fixed.config() and fresh.config()["epochs"] == 3
    assert fixed.fingerprint != fresh.fingerprint
    # The trial's dataset attribute rebuilds the fresh spec, fingerprint-checked.
    attr = {"dataset": {"fingerprint": fresh.fingerprint, **fresh.config()}}
    spec, why = spec_from_trial(attr, {})
    assert why is None and spec is not None and spec.epochs == 3


def test_recipe_field_is_a_checked_boolean():
    assert make_recipe("cpu").fresh_data is False
    assert make_recipe("cpu", {"fresh_data": True}).fresh_data is True
    with pytest.raises(Exception, match=r"recipe\.fresh_data: expected true or false"):
        make_recipe("cpu", {"fresh_data": "yes"})


def test_a_trial_with_fresh_data_completes_and_differs_from_a_fixed_one(tmp_path):
    def spec(fresh: bool) -> TrialSpec:
        return TrialSpec(
            profile="cpu",
            device="cpu",
            recipe={**TINY, "fresh_data": fresh},
            cache_dir=str(tmp_path / "cache"),
        )

    fresh = run_trial(spec(True))
    assert fresh.status == "complete", fresh.message
    assert fresh.info["dataset"]["epochs"] == TINY["pretrain_epochs"]
    assert fresh.info["recipe"]["fresh_data"] is True
    fixed = run_trial(spec(False))
    assert "epochs" not in fixed.info["dataset"]
    # Epoch 0 is the same data, later epochs are not: the pre-training loss differs, while the
    # scratch baseline (no pre-training) is the same cached one.
    assert fresh.metrics["pretrain_loss"] != fixed.metrics["pretrain_loss"]
    assert fresh.metrics["scratch_headline"] == fixed.metrics["scratch_headline"]
    again = run_trial(spec(True))
    assert again.metrics["pretrain_loss"] == fresh.metrics["pretrain_loss"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fresh_blocks_render_on_the_gpu_like_on_the_cpu_and_repeat():
    ds = Dataset(
        DatasetSpec("visualatom", classes=4, instances=16, image_size=64, seed=3, epochs=4)
    )
    buf = torch.empty((64, 64, 64), dtype=torch.uint8, device="cuda")
    for epoch in (1, 3):
        dev = ds.tensors("cuda", epoch=epoch, out=buf)[0].cpu()
        cpu = ds.tensors("cpu", epoch=epoch)[0]
        assert (dev == cpu).float().mean() > 0.99  # the two render paths' agreement
        assert torch.equal(dev, ds.tensors("cuda", epoch=epoch)[0].cpu())
    assert not torch.equal(ds.tensors("cuda", epoch=1)[0], ds.tensors("cuda", epoch=2)[0])
