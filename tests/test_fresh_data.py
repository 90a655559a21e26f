"""Fresh data every epoch (``recipe.fresh_data``): new instances of every class per pre-training
epoch, class parameters fixed, deterministic from the data seed; a trial with it completes.
The overlapped render (the next block drawn by a thread, on CUDA on a side stream, while the
current one trains) gives the plain render's bytes and the same training, and leaves no thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_proxy import TINY

from proxy_tasks import run_trial
from proxy_tasks.models import create_vit
from proxy_tasks.recipe import make_recipe
from proxy_tasks.spec import Pruned, TrialSpec
from proxy_tasks.torchutil import scoped_torch_seed
from proxy_tasks.training import (
    OVERLAP_ENV,
    FreshBlocks,
    overlap_default,
    render_threads,
    train_classifier,
)
from sweep import record
from sweep.dataset import Dataset, DatasetSpec
from sweep.seeding import Seeds
from sweep.trial import dataset_of

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow
#: TINY without fine-tuning (the linear probe's headline): a trial in about a second
FAST = {**TINY, "finetune_epochs": 0, "headline": "linear"}


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
    spec, why = dataset_of(attr, {})
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


# ----------------------------------------------------------------------------- overlapped render
def _blocks(ds: Dataset, device: str, overlap: bool, epochs: int) -> list[torch.Tensor]:
    """Blocks 0 .. epochs - 1 through FreshBlocks, each copied as soon as it is handed over."""
    first = ds.tensors(device)[0]
    out = [first.clone()]
    with FreshBlocks(
        lambda e, buf: ds.tensors(device, epoch=e, out=buf), first, epochs, overlap=overlap
    ) as fb:
        assert fb.overlap is overlap
        fb.start()
        for e in range(1, epochs):
            x = fb(e)
            # overlapped: block e lives in buffer e % 2 (block 0's is the caller's buffer)
            assert (x is first) == (not overlap or e % 2 == 0)
            out.append(x.clone())
    assert render_threads() == []
    return out


@pytest.mark.parametrize("generator", ["visualatom", "rcdb", "fractaldb"])
def test_overlapped_blocks_are_the_plain_blocks_bytes(generator):
    ds = _ds(generator, epochs=5)
    plain, overlapped = _blocks(ds, "cpu", False, 5), _blocks(ds, "cpu", True, 5)
    for e in range(5):
        assert torch.equal(plain[e], overlapped[e]), (generator, e)
    # and both are the dataset's blocks, rendered on their own
    assert torch.equal(overlapped[3], _ds(generator, epochs=5).tensors("cpu", epoch=3)[0])
    assert not torch.equal(overlapped[3], overlapped[4])


def test_blocks_are_asked_for_in_order_and_a_render_error_reaches_the_trainer():
    ds = _ds(epochs=4)
    first = ds.tensors("cpu")[0]

    def render(e: int, buf: torch.Tensor) -> None:
        if e == 2:
            raise ValueError("block 2 failed")
        ds.tensors("cpu", epoch=e, out=buf)

    with FreshBlocks(render, first, 4, overlap=True) as fb:
        fb.start()
        with pytest.raises(RuntimeError, match="fresh block 2 asked for while block 1 renders"):
            fb(2)
        assert torch.equal(fb(1), ds.tensors("cpu", epoch=1)[0])
        with pytest.raises(ValueError, match="block 2 failed"):
            fb(2)
        with pytest.raises(IndexError, match=r"fresh block 4 out of range \[1, 4\)"):
            fb(4)
    assert render_threads() == []


def test_the_overlap_follows_the_device_and_the_environment(monkeypatch):
    first = torch.zeros((2, 4, 4), dtype=torch.uint8)
    monkeypatch.delenv(OVERLAP_ENV, raising=False)
    assert overlap_default(torch.device("cuda")) is True and overlap_default(first.device) is False
    fb = FreshBlocks(lambda e, b: None, first, 3)  # the CPU's default: plain
    assert fb.overlap is False and len(fb.buffers) == 1  # no second buffer, no thread
    monkeypatch.setenv(OVERLAP_ENV, "1")
    with FreshBlocks(lambda e, b: None, first, 3) as fb:
        assert fb.overlap is True and len(fb.buffers) == 2
    monkeypatch.setenv(OVERLAP_ENV, "0")
    assert overlap_default(torch.device("cuda")) is False
    assert FreshBlocks(lambda e, b: None, first, 3, overlap=True).overlap is True
    assert render_threads() == []


def _pretrain(ds: Dataset, overlap: bool, report=None) -> tuple[dict, dict]:
    r = make_recipe("cpu", {**TINY, "classes": 3, "instances": 4, "img_size": 32, "mixup": 0.8})
    x, y = ds.tensors("cpu")
    fresh = FreshBlocks(
        lambda e, buf: ds.tensors("cpu", epoch=e, out=buf), x, ds.epochs, overlap=overlap
    )
    with scoped_torch_seed(Seeds(0).key32("init"), torch.device("cpu")):
        model = create_vit(r, 3)
        stats = train_classifier(
            model,
            x,
            y,
            3,
            r,
            epochs=ds.epochs,
            batch=4,
            lr=1e-3,
            weight_decay=0.05,
            warmup=1,
            rrc_scale=(0.35, 1.0),
            mix=True,
            device=torch.device("cpu"),
            seeds=Seeds(0),
            key="pretrain",
            report=report,
            fresh=fresh,
        )
    return stats, model.state_dict()


def test_pretraining_on_overlapped_blocks_ends_on_the_same_weights():
    ds = _ds(epochs=4)
    (a, wa), (b, wb) = _pretrain(ds, False), _pretrain(ds, True)
    assert a == b and np.isfinite(a["loss"])
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert render_threads() == []


def test_the_render_thread_is_joined_when_training_raises():
    seen: list[int] = []

    def report(name: str, epoch: int, value: float) -> None:
        seen.append(len(render_threads()))
        if epoch == 2:
            raise Pruned("stop in epoch 2")

    with pytest.raises(Pruned):
        _pretrain(_ds(epochs=5), True, report)
    assert seen == [1, 1]  # the thread rendered while epochs 1 and 2 trained
    assert render_threads() == []


def test_a_trial_with_the_overlapped_render_is_the_plain_one(tmp_path, monkeypatch):
    def run(overlap: str, report=None):
        monkeypatch.setenv(OVERLAP_ENV, overlap)
        return run_trial(
            TrialSpec(
                profile="cpu",
                device="cpu",
                recipe={**FAST, "fresh_data": True, "pretrain_epochs": 4},
                cache_dir=str(tmp_path / "cache"),
            ),
            report,
        )

    plain, overlapped = run("0"), run("1")
    assert plain.status == overlapped.status == "complete", (plain.message, overlapped.message)
    assert plain.info["fresh_overlap"] is False and overlapped.info["fresh_overlap"] is True

    def results(m: dict) -> dict:  # everything but the timings and rates
        return {k: v for k, v in m.items() if not k.startswith("time_") and "per_s" not in k}

    assert results(plain.metrics) == results(overlapped.metrics)
    assert render_threads() == []

    def stop(name: str, step: int, value: float) -> None:  # prune mid pre-training
        if name == record.loss_name("pretrain") and step == 2:
            assert render_threads(), "the render thread should be running in epoch 2"
            raise Pruned("pruned in epoch 2")

    pruned = run("1", stop)
    assert pruned.status == "pruned", pruned.message
    assert render_threads() == []


# ----------------------------------------------------------------------------- on a GPU
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_overlapped_blocks_on_the_gpu_are_the_plain_blocks_and_wait_for_the_trainer():
    ds = Dataset(
        DatasetSpec("visualatom", classes=4, instances=64, image_size=64, seed=3, epochs=5)
    )
    plain, overlapped = _blocks(ds, "cuda", False, 5), _blocks(ds, "cuda", True, 5)
    for e in range(5):
        assert torch.equal(plain[e], overlapped[e]), e
    # The side stream waits for the training stream: a read of block 1 queued behind a long
    # kernel still sees block 1 though block 3 renders into the same buffer meanwhile.
    first = ds.tensors("cuda")[0]
    with FreshBlocks(
        lambda e, buf: ds.tensors("cuda", epoch=e, out=buf), first, 5, overlap=True
    ) as fb:
        fb.start()
        x1 = fb(1)
        torch.cuda._sleep(200_000_000)  # about 0.1 s of GPU time on the training stream
        snap = x1.clone()  # queued after the sleep
        x2 = fb(2)  # starts block 3 into block 1's buffer
        later = x2.sum(dtype=torch.int64)
        assert fb(3) is x1
        torch.cuda.synchronize()
        assert torch.equal(snap, plain[1]) and int(later) == int(plain[2].sum(dtype=torch.int64))
    assert render_threads() == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_trial_with_the_overlapped_render_is_the_plain_one(tmp_path, monkeypatch):
    def run(overlap: str):
        monkeypatch.setenv(OVERLAP_ENV, overlap)
        return run_trial(
            TrialSpec(
                profile="cpu",
                device="cuda",
                recipe={**TINY, "fresh_data": True, "pretrain_epochs": 4},
                cache_dir=str(tmp_path / "cache"),
            )
        )

    plain, overlapped = run("0"), run("1")
    assert plain.status == overlapped.status == "complete", (plain.message, overlapped.message)
    keys = ("pretrain_loss", "headline")
    if any(plain.metrics[k] != overlapped.metrics[k] for k in keys):
        again = run("0")  # is the GPU training itself repeatable?
        pytest.fail(
            f"overlapped {[overlapped.metrics[k] for k in keys]} != plain "
            f"{[plain.metrics[k] for k in keys]} (plain again: {[again.metrics[k] for k in keys]})"
        )
    assert render_threads() == []
