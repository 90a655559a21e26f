"""The pre-training augmentation, on the device, and the diversity block measured under it.

Batched random-resized-crop (:func:`random_resized_crop`), mixup/cutmix in timm's batch mode
with soft targets (:func:`mix_batch`), both as one NumPy-in, NumPy-out function for the
diversity block (:func:`pretrain_augment`), and the synthetic dataset's diversity block
(:func:`dataset_diversity`, :mod:`sweep.diversity`).

Imports: numpy, torch, timm (lazily); :mod:`proxy_tasks.recipe`, :mod:`proxy_tasks.spec`,
:mod:`proxy_tasks.torchutil`, :mod:`sweep.seeding`, :mod:`sweep.diversity` (lazily).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from proxy_tasks.recipe import Recipe
from proxy_tasks.spec import TrialSpec
from proxy_tasks.torchutil import to_float
from sweep.seeding import Seeds


def random_resized_crop(
    x: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float], gen: torch.Generator
) -> torch.Tensor:
    """Batched random-resized-crop on the device (one crop per image, output size = input size).

    Each image draws an area fraction in ``scale`` and a log-uniform aspect ratio in ``ratio``
    (torchvision's law, clamped to the image instead of retried), and a uniform position.
    """
    b = x.shape[0]
    u = torch.rand(4, b, device=x.device, generator=gen)
    area = scale[0] + (scale[1] - scale[0]) * u[0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1]
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (1 - w) * (2 * u[2] - 1)
    cy = (1 - h) * (2 * u[3] - 1)
    # The sampling grid of the affine map [[w, 0, cx], [0, h, cy]] (what F.affine_grid builds,
    # without its batched matrix product: 5-10x cheaper on CPUs), pixel centres in [-1, 1].
    S_h, S_w = x.shape[-2:]
    by = (torch.arange(S_h, device=x.device, dtype=x.dtype) * 2 + 1) / S_h - 1
    bx = (torch.arange(S_w, device=x.device, dtype=x.dtype) * 2 + 1) / S_w - 1
    gx = (w.to(x.dtype)[:, None] * bx + cx.to(x.dtype)[:, None])[:, None, :].expand(b, S_h, S_w)
    gy = (h.to(x.dtype)[:, None] * by + cy.to(x.dtype)[:, None])[:, :, None].expand(b, S_h, S_w)
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, r: Recipe, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or cutmix in timm's batch mode, with soft targets from ``timm``'s ``mixup_target``.

    The mixing draws (on/off, which, lambda, box) are host-side NumPy draws from the trial's keyed
    generator: no device sync, and deterministic.
    """
    from timm.data.mixup import mixup_target

    lam = 1.0
    use_mix = (r.mixup > 0 or r.cutmix > 0) and rng.random() < r.mix_prob
    if use_mix:
        use_cutmix = r.cutmix > 0 and (r.mixup <= 0 or rng.random() < r.switch_prob)
        alpha = r.cutmix if use_cutmix else r.mixup
        lam = float(rng.beta(alpha, alpha))
        if use_cutmix:
            h, w = x.shape[-2:]
            cut = math.sqrt(1.0 - lam)
            ch, cw = int(h * cut), int(w * cut)
            cy, cx = int(rng.integers(h)), int(rng.integers(w))
            y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
            x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
            x = x.clone()
            x[:, :, y0:y1, x0:x1] = x.flip(0)[:, :, y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)  # the box's true area
        else:
            x = x * lam + x.flip(0) * (1.0 - lam)
    target = mixup_target(y, num_classes, lam=lam, smoothing=r.label_smoothing)
    return x, target


def pretrain_augment(r: Recipe, seed: int):
    """The pre-training augmentation (random-resized-crop, then mixup/cutmix in batch mode) as
    a function of uint8 images (N, S, S) -> [0, 1] float images, for the diversity block."""

    def augment(images: np.ndarray) -> np.ndarray:
        seeds = Seeds(seed)
        gen = torch.Generator()
        gen.manual_seed(seeds.key32("diversity-augment", "rrc"))
        x = random_resized_crop(
            to_float(torch.from_numpy(images), 1), r.rrc_scale, r.rrc_ratio, gen
        )
        y = torch.zeros(x.shape[0], dtype=torch.long)
        x, _ = mix_batch(x, y, 1, r, seeds.rng("diversity-augment", "mix"))
        return ((x[:, 0] + 1.0) / 2.0).clamp_(0.0, 1.0).numpy()

    return augment


def dataset_diversity(x: torch.Tensor, y: torch.Tensor, r: Recipe, spec: TrialSpec) -> dict:
    """The diversity block (sweep.diversity) of the synthetic dataset on its stratified sample:
    only the sampled images leave the device. Drawn from the data seed; the augmentation from
    the training seed."""
    from sweep.diversity import diversity_block, sample_indices

    labels = y.cpu().numpy()
    idx = sample_indices(labels, seed=spec.data_seed)
    images = x[torch.from_numpy(idx).to(x.device)].cpu().numpy()
    with torch.no_grad():
        return diversity_block(
            images,
            labels[idx],
            n=len(idx),
            seed=spec.data_seed,
            augment=pretrain_augment(r, spec.train_seed),
        )
