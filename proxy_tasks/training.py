"""Training loops of the proxy: pre-training on the synthetic set and fine-tuning downstream.

Fresh data (``recipe.fresh_data``) comes through :class:`FreshBlocks`: epoch e's block of new
images, rendered into the spare of two buffers by a background thread while epoch e - 1 trains
(double buffering, on a side stream the training stream waits for by an event: the default
on CUDA), or into the one buffer when the epoch starts (the CPU's default;
``SWEEP_FRESH_OVERLAP=1`` or ``0`` chooses). Both give the same bytes: every image is a pure
function of the data seed, its class and its instance index.

Imports: torch, timm (lazily); :mod:`proxy_tasks.augment`, :mod:`proxy_tasks.models`,
:mod:`proxy_tasks.recipe`, :mod:`proxy_tasks.spec`, :mod:`proxy_tasks.torchutil`,
:mod:`sweep.record`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from proxy_tasks.augment import mix_batch, random_resized_crop
from proxy_tasks.models import compiled_loss, forward_loss, make_adamw, schedule
from proxy_tasks.recipe import Recipe
from proxy_tasks.spec import Diverged, Report
from proxy_tasks.torchutil import autocast, to_float
from sweep import record
from sweep.seeding import Seeds

#: the environment variable that turns the overlapped render on (``1``) or off (``0``); unset:
#: :func:`overlap_default`. Execution only: both ways give the same bytes and the same training.
OVERLAP_ENV = "SWEEP_FRESH_OVERLAP"
#: the name prefix of the render thread (a test looks for leftovers by it)
THREAD_PREFIX = "sweep-fresh-render"


def overlap_default(device: torch.device) -> bool:
    """Whether fresh data renders the next block while the current one trains on ``device``:
    ``SWEEP_FRESH_OVERLAP`` (``1``/``0``) when set, else on a CUDA device (the render runs on
    the GPU beside the training) and not on the CPU (there the render and the training share
    the cores and the interpreter: on 2 busy cores the overlapped cpu preset ran at 0.93 of
    the plain rate, 1.17-1.21 at 5 epochs; benchmarks/fresh_overlap.py)."""
    v = os.environ.get(OVERLAP_ENV, "").strip().lower()
    if v in ("0", "false", "no", "off"):
        return False
    if v in ("1", "true", "yes", "on"):
        return True
    return device.type == "cuda"


class FreshBlocks:
    """Fresh data's blocks for one pre-training: ``blocks(e)`` returns epoch ``e``'s images.

    ``render(epoch, out)`` renders block ``epoch`` into the uint8 tensor ``out`` (its shape and
    device: ``first``'s), ``first`` holds block 0; ``overlap`` None: :func:`overlap_default`
    (on with CUDA, off on the CPU, ``SWEEP_FRESH_OVERLAP`` overriding). Plain (``overlap`` off):
    each call renders into ``first`` itself, in the caller's time. Overlapped: a second buffer;
    block e lives in buffer e % 2, and asking for block e hands over what the worker thread
    rendered while e - 1 trained, then starts block e + 1 into the buffer e - 1 used (on CUDA
    on a side stream that first waits for the training stream's use of that buffer, and the
    training stream waits for the render by an event; on the CPU the caller's reads are done
    when it asks).
    Blocks must be asked for in order 1, 2, ...; :meth:`start` begins block 1 (call it when
    epoch 0 starts training), :meth:`close` (or the ``with`` block's end) stops and joins the
    thread, whatever raised. The render must draw nothing from a global random generator (the
    generators draw from keyed seeds), so running it on another thread changes no byte of it
    and nothing of the training; the overlapped render holds two blocks in memory.
    """

    def __init__(
        self,
        render: Callable[[int, torch.Tensor], object],
        first: torch.Tensor,
        epochs: int,
        *,
        overlap: bool | None = None,
    ) -> None:
        self.render = render
        self.epochs = epochs
        self.overlap = overlap_default(first.device) if overlap is None else overlap
        self.device = first.device
        self.buffers = [first]
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[int, Future] | None = None
        self._side = None
        if self.overlap and epochs > 1:
            self.buffers.append(torch.empty_like(first))
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=THREAD_PREFIX)
            if self.device.type == "cuda":
                self._side = torch.cuda.Stream(self.device)

    # ---------------------------------------------------------------- the worker's side
    def _job(self, epoch: int, free) -> object:
        buf = self.buffers[epoch % 2]
        with torch.no_grad():
            if self._side is None:
                self.render(epoch, buf)
                return None
            with torch.cuda.device(self.device), torch.cuda.stream(self._side):
                if free is not None:  # the training stream is done with this buffer
                    self._side.wait_event(free)
                self.render(epoch, buf)
                done = torch.cuda.Event()
                done.record(self._side)
                return done

    def _submit(self, epoch: int) -> None:
        if self._pool is None or epoch >= self.epochs:
            return
        free = None
        if self._side is not None:  # everything queued so far on the training stream
            free = torch.cuda.Event()
            free.record(torch.cuda.current_stream(self.device))
        self._pending = (epoch, self._pool.submit(self._job, epoch, free))

    # ---------------------------------------------------------------- the trainer's side
    def start(self) -> None:
        """Begin rendering block 1 (overlapped; nothing otherwise)."""
        if self._pending is None:
            self._submit(1)

    def __call__(self, epoch: int) -> torch.Tensor:
        if not 0 < epoch < self.epochs:
            raise IndexError(f"fresh block {epoch} out of range [1, {self.epochs})")
        if self._pool is None:
            self.render(epoch, self.buffers[0])
            return self.buffers[0]
        if self._pending is None:
            self._submit(epoch)
        assert self._pending is not None
        want, fut = self._pending
        if want != epoch:
            raise RuntimeError(f"fresh block {epoch} asked for while block {want} renders")
        self._pending = None
        done = fut.result()  # the worker's exception, if any, is raised here
        if done is not None:
            torch.cuda.current_stream(self.device).wait_event(done)
        self._submit(epoch + 1)
        return self.buffers[epoch % 2]

    def close(self) -> None:
        """Stop the worker: wait for a block it renders, join its thread (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending[1].result()
            except BaseException:  # closing after a failure: the first error wins
                pass
        pool.shutdown(wait=True, cancel_futures=True)
        if self._side is not None:
            self._side.synchronize()

    def __enter__(self) -> FreshBlocks:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def render_threads() -> list[threading.Thread]:
    """The live fresh-data render threads of this process (none once every trial closed its)."""
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def train_classifier(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    r: Recipe,
    *,
    epochs: int,
    batch: int,
    lr: float,
    weight_decay: float,
    warmup: int,
    rrc_scale: tuple[float, float],
    mix: bool,
    device: torch.device,
    seeds: Seeds,
    key: str,
    report: Report | None = None,
    compile: bool = False,
    fresh: FreshBlocks | Callable[[int], torch.Tensor] | None = None,
    ema: float = 0.0,
) -> dict[str, float]:
    """Train ``model`` on uint8 images ``x`` (on ``device``) and labels ``y``; returns stats.

    Batches are drawn without replacement (full batches only, so shapes are static for
    ``torch.compile``); the loss is accumulated on the device and read once per epoch.
    ``fresh(epoch)``, when given, returns the images of epoch ``epoch`` >= 1 (same shape and
    labels as ``x``, new instances): fresh data, its rendering timed as part of training; a
    :class:`FreshBlocks` is started with epoch 0 and closed when training ends or raises.
    ``ema`` > 0: an exponential moving average of the weights (decay ``ema`` per step) replaces
    the weights at the end (weight averaging: the end point of a noisy trajectory, smoothed).
    """
    from timm.loss import SoftTargetCrossEntropy

    n = x.shape[0]
    batch = min(batch, n)
    steps = n // batch
    opt = make_adamw(model, lr, weight_decay, device)
    sched = schedule(opt, epochs, warmup, steps)
    criterion = SoftTargetCrossEntropy()
    gen = torch.Generator(device=device)
    gen.manual_seed(seeds.key32(key, "order"))
    mix_rng = seeds.rng(key, "mix")

    loss_fn = compiled_loss() if compile and device.type == "cuda" else forward_loss
    compiled = loss_fn is not forward_loss

    def step(xb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nonlocal loss_fn, compiled
        with autocast(device, r.precision):
            try:
                loss = loss_fn(model, criterion, xb, target)
            except Exception as e:  # a compiler failure must not cost the trial
                if not compiled:
                    raise
                print(
                    f"sweep: torch.compile failed ({type(e).__name__}); running eager",
                    file=sys.stderr,
                )
                loss_fn, compiled = forward_loss, False
                loss = forward_loss(model, criterion, xb, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    params = [p for p in model.parameters() if p.requires_grad]
    shadow = [p.detach().clone() for p in params] if ema > 0 else []
    model.train()
    total = torch.zeros((), device=device)
    last = math.nan

    def _epoch(epoch: int, x: torch.Tensor) -> float:
        perm = torch.randperm(n, device=device, generator=gen)
        total.zero_()
        for s in range(steps):
            idx = perm[s * batch : (s + 1) * batch]
            xb = random_resized_crop(to_float(x[idx], r.in_chans), rrc_scale, r.rrc_ratio, gen)
            if mix:
                xb, target = mix_batch(xb, y[idx], num_classes, r, mix_rng)
            else:
                from timm.data.mixup import mixup_target

                target = mixup_target(y[idx], num_classes, smoothing=r.label_smoothing)
            total.add_(step(xb, target))
            sched.step_update(epoch * steps + s + 1)
            if shadow:
                with torch.no_grad():
                    torch._foreach_lerp_(shadow, [p.detach() for p in params], 1.0 - ema)
        last = float(total) / steps  # one host sync per epoch
        if not math.isfinite(last):
            raise Diverged(f"{key}: loss became {last} in epoch {epoch + 1}")
        if report is not None:
            report(record.loss_name(key), epoch + 1, last)
        return last

    blocks = fresh if isinstance(fresh, FreshBlocks) else None
    try:
        if blocks is not None:
            blocks.start()
        for epoch in range(epochs):
            if fresh is not None and epoch > 0:
                x = fresh(epoch)
            last = _epoch(epoch, x)
    finally:
        if blocks is not None:
            blocks.close()
    if shadow:
        with torch.no_grad():
            torch._foreach_copy_(params, shadow)
    return {"loss": last, "images": float(epochs * steps * batch), "compiled": compiled}


def finetune(model, xtr, ytr, num_classes, r: Recipe, device, seeds, name) -> dict:
    """Full fine-tuning of ``model`` on downstream ``name`` with the recipe's fine-tune fields."""
    return train_classifier(
        model,
        xtr,
        ytr,
        num_classes,
        r,
        epochs=r.finetune_epochs,
        batch=r.finetune_batch,
        lr=r.finetune_lr,
        weight_decay=r.finetune_weight_decay,
        warmup=r.finetune_warmup_epochs,
        rrc_scale=r.finetune_rrc_scale,
        mix=False,
        device=device,
        seeds=seeds,
        key=f"finetune-{name}",
        compile=r.compile,
    )
