"""The proxy's model and optimiser: a timm ViT, timm's AdamW and cosine schedule, and the loss
(eager, or through ``torch.compile`` once per process).

Imports: torch, timm (lazily); :mod:`proxy_tasks.recipe`, :mod:`sweep.errors`.
"""

from __future__ import annotations

from typing import Any

import torch

from proxy_tasks.recipe import Recipe
from sweep.errors import SweepError

COMPILED: dict[str, Any] = {}  # compiled functions, created once per process


def create_vit(r: Recipe, num_classes: int) -> torch.nn.Module:
    """``timm.create_model(r.model, ...)`` with the recipe's shape; a SweepError for a model
    name timm does not know."""
    import timm

    try:
        return timm.create_model(
            r.model,
            pretrained=False,
            num_classes=num_classes,
            img_size=r.img_size,
            patch_size=r.patch_size,
            in_chans=r.in_chans,
            embed_dim=r.embed_dim,
            depth=r.depth,
            num_heads=r.num_heads,
            mlp_ratio=r.mlp_ratio,
            drop_path_rate=r.drop_path,
        )
    except RuntimeError as e:
        if "nknown model" in str(e):  # timm's error for a name it does not know
            raise SweepError(f"recipe.model: {e}") from None
        raise


def make_adamw(model, lr: float, weight_decay: float, device: torch.device):
    """timm's AdamW (no weight decay on biases and norms), fused on CUDA where supported."""
    from timm.optim import create_optimizer_v2

    if device.type == "cuda":
        try:
            return create_optimizer_v2(
                model, opt="adamw", lr=lr, weight_decay=weight_decay, fused=True
            )
        except (TypeError, RuntimeError):
            pass
    return create_optimizer_v2(model, opt="adamw", lr=lr, weight_decay=weight_decay)


def schedule(optimizer, epochs: int, warmup: int, steps_per_epoch: int):
    """timm's cosine schedule with linear warm-up, stepped per update."""
    from timm.scheduler import create_scheduler_v2

    sched, _ = create_scheduler_v2(
        optimizer,
        sched="cosine",
        num_epochs=epochs,
        warmup_epochs=min(warmup, epochs - 1),
        warmup_lr=1e-6,
        min_lr=1e-6,
        step_on_epochs=False,
        updates_per_epoch=steps_per_epoch,
    )
    return sched


def forward_loss(model, criterion, xb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The training loss of one batch: ``criterion(model(xb), target)``."""
    return criterion(model(xb), target)


def compiled_loss():
    """:func:`forward_loss` through torch.compile, created once per process. The model is an
    argument, so dynamo treats its parameters as graph inputs and re-uses the compiled graph for
    every new model of the same architecture: later trials in a worker pay no compile time.
    Static shapes (``dynamic=False``): pre-training and each downstream's fine-tuning (its batch
    and head size) get a specialised graph each, compiled on first use."""
    fn = COMPILED.get("loss")
    if fn is None:
        fn = COMPILED["loss"] = torch.compile(forward_loss, dynamic=False)
    return fn
