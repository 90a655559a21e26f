"""Training loops of the proxy: pre-training on the synthetic set and fine-tuning downstream.

Imports: torch, timm (lazily); :mod:`proxy_tasks.augment`, :mod:`proxy_tasks.models`,
:mod:`proxy_tasks.recipe`, :mod:`proxy_tasks.spec`, :mod:`proxy_tasks.torchutil`,
:mod:`sweep.record`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch

from proxy_tasks.augment import mix_batch, random_resized_crop
from proxy_tasks.models import compiled_loss, forward_loss, make_adamw, schedule
from proxy_tasks.recipe import Recipe
from proxy_tasks.spec import Diverged, Report
from proxy_tasks.torchutil import autocast, to_float
from sweep import record
from sweep.seeding import Seeds


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
    fresh: Callable[[int], torch.Tensor] | None = None,
    ema: float = 0.0,
) -> dict[str, float]:
    """Train ``model`` on uint8 images ``x`` (on ``device``) and labels ``y``; returns stats.

    Batches are drawn without replacement (full batches only, so shapes are static for
    ``torch.compile``); the loss is accumulated on the device and read once per epoch.
    ``fresh(epoch)``, when given, returns the images of epoch ``epoch`` >= 1 (same shape and
    labels as ``x``, new instances): fresh data, its rendering timed as part of training.
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
    for epoch in range(epochs):
        if fresh is not None and epoch > 0:
            x = fresh(epoch)
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
            total += step(xb, target)
            sched.step_update(epoch * steps + s + 1)
            if shadow:
                with torch.no_grad():
                    torch._foreach_lerp_(shadow, [p.detach() for p in params], 1.0 - ema)
        last = float(total) / steps  # one host sync per epoch
        if not math.isfinite(last):
            raise Diverged(f"{key}: loss became {last} in epoch {epoch + 1}")
        if report is not None:
            report(record.loss_name(key), epoch + 1, last)
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
