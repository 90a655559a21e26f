"""The main proxy task: pre-train a timm ViT on a synthetic dataset, evaluate it downstream.

One trial, end to end, all on one device:

1. **generate** the synthetic dataset in memory (``sweep.dataset.Dataset.tensors``: rendered on
   the GPU when there is one; no PNG round trip), ``classes x instances`` images at ``img_size``;
2. **pre-train** ``timm.create_model(recipe.model, ...)`` on its class labels with the recipe:
   AdamW (``timm.optim.create_optimizer_v2``), cosine schedule with warm-up
   (``timm.scheduler.create_scheduler_v2``, per step), label smoothing and mixup/cutmix targets
   (``timm.data.mixup.mixup_target``), batched random-resized-crop on the device, no flip;
   bf16 autocast and ``torch.compile`` on CUDA; the loss is read back once per epoch (no host sync
   inside the step) and reported through the callback;
3. **evaluate** on each downstream dataset: full fine-tuning top-1 (the FDSL protocol), kNN
   (k = 20, cosine) and a linear probe on frozen features; and the same fine-tuning from scratch
   (no pre-training), cached per (downstream, recipe, seed), so every trial reports its gain
   and ``scratch_headline``, the headline of the model without pre-training on the same seed.

Randomness: the synthetic data from ``data_seed``; initialisation, data order, augmentation and
fine-tuning from ``train_seed``, through keyed generators (``sweep.seeding.Seeds``) and, for what
timm draws from torch's default generator (initialisation, drop-path), a scoped
``torch.random.fork_rng`` seeded from the same keys: the global state is restored afterwards.

The stages live in their own modules: :mod:`proxy_tasks.augment` (crop, mixup/cutmix, the
diversity block), :mod:`proxy_tasks.models` (ViT, AdamW, schedule, compiled loss),
:mod:`proxy_tasks.training` (pre-training and fine-tuning loops), :mod:`proxy_tasks.probes` and
:mod:`proxy_tasks.evaluation` (kNN, linear probe, fine-tuning top-1), :mod:`proxy_tasks.baseline`
(the cached scratch baseline). This module holds the task (:class:`ViTProxy`) that runs them.

Imports: numpy, torch, timm (lazily); :mod:`proxy_tasks` modules (not the package itself),
:mod:`sweep.dataset`, :mod:`sweep.devices`, :mod:`sweep.diversity`, :mod:`sweep.errors`,
:mod:`sweep.record`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from proxy_tasks.augment import dataset_diversity
from proxy_tasks.baseline import scratch_baseline
from proxy_tasks.downstream import load_downstream
from proxy_tasks.evaluation import downstream_metrics
from proxy_tasks.models import create_vit
from proxy_tasks.recipe import HEADLINES, Recipe, as_dict, make_recipe, recipe_dataset
from proxy_tasks.spec import (
    COMPLETE,
    FAILED,
    PHASE_PREFIX,
    PRUNED,
    Diverged,
    Report,
    TrialResult,
    TrialSpec,
    is_prune,
    spec_dict,
)
from proxy_tasks.torchutil import resolve_torch_device, scoped_torch_seed, sync
from proxy_tasks.training import FreshBlocks, train_classifier
from sweep import devices, record
from sweep.diversity import PREFIX as DIVERSITY_PREFIX
from sweep.errors import SweepError
from sweep.seeding import Seeds

if TYPE_CHECKING:
    from sweep.dataset import Dataset

__all__ = ["ViTProxy", "pretrain"]

HOST_OOM = "host out of memory; lower recipe.batch_size, embed_dim or the dataset size"


def pretrain(
    r: Recipe,
    ds: Dataset,
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
    seeds: Seeds,
    report: Report | None = None,
    *,
    overlap: bool | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trial's pre-training: a new ViT (initialised from the training seed) trained on
    ``x``, ``y`` (block 0 of ``ds``, on ``device``) with the recipe; returns it and the stats.

    With ``recipe.fresh_data`` every epoch after the first trains on its own block of ``ds``,
    rendered by a :class:`proxy_tasks.training.FreshBlocks` into the spare of two buffers while
    the previous epoch trains (``overlap``; None: on a CUDA device, not on the CPU, unless
    ``SWEEP_FRESH_OVERLAP`` says 1 or 0), or into ``x`` itself when its epoch starts: the same
    bytes, the same training. ``stats["fresh_overlap"]``: which of the two ran (None: a fixed
    dataset).
    """
    fresh = (
        FreshBlocks(
            lambda epoch, out: ds.tensors(device, epoch=epoch, out=out),
            x,
            r.pretrain_epochs,
            overlap=overlap,
        )
        if r.fresh_data
        else None
    )
    with scoped_torch_seed(seeds.key32("init"), device):
        model = create_vit(r, r.classes).to(device)
        stats = train_classifier(
            model,
            x,
            y,
            r.classes,
            r,
            epochs=r.pretrain_epochs,
            batch=r.batch_size,
            lr=r.lr * min(r.batch_size, len(ds)) / 1024,
            weight_decay=r.weight_decay,
            warmup=r.warmup_epochs,
            rrc_scale=r.rrc_scale,
            mix=True,
            device=device,
            seeds=seeds,
            key="pretrain",
            report=report,
            compile=r.compile,
            fresh=fresh,
            ema=r.ema,
        )
    return model, {**stats, "fresh_overlap": None if fresh is None else fresh.overlap}


class ViTProxy:
    """Pre-train a ViT on a synthetic dataset and evaluate it on downstream data."""

    name = "vit"

    def run(self, spec: TrialSpec, report: Report | None = None) -> TrialResult:
        info: dict[str, Any] = {"spec": spec_dict(spec)}
        try:
            return self._run(spec, report, info)
        except Diverged as e:
            return TrialResult(FAILED, error_type="diverged", message=str(e), info=info)
        except torch.cuda.OutOfMemoryError as e:
            msg = str(e).splitlines()[0] if str(e) else "CUDA out of memory"
            return TrialResult(
                FAILED,
                error_type="out_of_memory",
                message=f"{msg}; lower recipe.batch_size or img_size",
                info=info,
            )
        except MemoryError:
            return TrialResult(FAILED, error_type="out_of_memory", message=HOST_OOM, info=info)
        except SweepError as e:
            kind = "data" if str(e).startswith("downstream") else "config"
            return TrialResult(FAILED, error_type=kind, message=str(e), info=info)
        except Exception as e:
            if is_prune(e):  # Pruned, or optuna.TrialPruned, from the report callback
                return TrialResult(PRUNED, message=str(e) or "pruned", info=info)
            if isinstance(e, RuntimeError) and "can't allocate memory" in str(e):
                return TrialResult(FAILED, error_type="out_of_memory", message=HOST_OOM, info=info)
            raise

    def _run(self, spec: TrialSpec, report: Report | None, info: dict) -> TrialResult:
        from sweep.dataset import Dataset

        t_start = time.perf_counter()
        device = resolve_torch_device(spec.device)
        profile = devices.resolve_profile(spec.profile, device.type)
        r = make_recipe(profile, dict(spec.recipe))
        if r.threads:
            torch.set_num_threads(r.threads)
        info.update(profile=profile, device=str(device), recipe=as_dict(r))
        seeds = Seeds(spec.train_seed)
        timings: dict[str, float] = {}

        def phase(name: str, step: int, total: int) -> None:
            if report is not None:
                report(f"{PHASE_PREFIX}{name}", step, float(total))

        # 1. generate -----------------------------------------------------------------
        phase("generate", 0, 0)
        t0 = time.perf_counter()
        ds = Dataset(recipe_dataset(spec, profile))  # the task's one definition of its dataset
        x_syn, y_syn = ds.tensors(device)
        sync(device)
        timings["generate_s"] = time.perf_counter() - t0
        info[record.DATASET] = record.dataset_value(ds.fingerprint, ds.config())
        from timm.data.mixup import mixup_target  # noqa: F401  (its import is not the block's time)

        t0 = time.perf_counter()
        diversity = dataset_diversity(x_syn, y_syn, r, spec)
        timings["diversity_s"] = time.perf_counter() - t0

        # 2. pre-train (fresh data: every epoch after the first trains on its own block,
        # rendered while the previous epoch trains on CUDA, timed as pre-training) ---------
        phase("pretrain", 0, r.pretrain_epochs)
        t0 = time.perf_counter()
        model, stats = pretrain(r, ds, x_syn, y_syn, device, seeds, report)
        if r.fresh_data:
            info["fresh_overlap"] = stats["fresh_overlap"]
        sync(device)
        timings["pretrain_s"] = time.perf_counter() - t0
        del x_syn, y_syn
        metrics: dict[str, Any] = {
            record.PRETRAIN_LOSS: stats["loss"],
            record.PRETRAIN_COMPILED: stats["compiled"],
            record.PRETRAIN_IMAGES_PER_S: stats["images"] / timings["pretrain_s"],
        }
        metrics.update(
            {
                f"{DIVERSITY_PREFIX}{k}": v
                for k, v in diversity.items()
                if k != record.DIVERSITY_TIME
            }
        )

        # 3. evaluate -----------------------------------------------------------------
        t0 = time.perf_counter()
        scratch_s = 0.0
        finetune_compiled: list[bool] = []
        for i, name in enumerate(r.downstreams):
            phase("evaluate", i + 1, len(r.downstreams))
            d = load_downstream(
                name,
                image_size=r.img_size,
                in_chans=r.in_chans,
                root=spec.roots.get(name),
                seed=r.downstream_seed,
                max_train=r.downstream_train or None,
                max_test=r.downstream_test or None,
                download=spec.download,
            )
            xtr, ytr = d.x_train.to(device), d.y_train.to(device)
            xte, yte = d.x_test.to(device), d.y_test.to(device)
            ft_stats: dict[str, Any] = {}
            m = downstream_metrics(
                model, xtr, ytr, xte, yte, d.num_classes, r, device, seeds, name, ft_stats
            )
            finetune_compiled.append(bool(ft_stats.get("compiled")))
            t1 = time.perf_counter()
            base = scratch_baseline(spec, r, name, d, xtr, ytr, xte, yte, device)
            scratch_s += time.perf_counter() - t1
            for key, value in m.items():
                metrics[record.downstream_attr(name, key)] = value
            for key, value in base.items():
                metrics[record.downstream_attr(name, record.scratch_attr(key))] = value
                metrics[record.downstream_attr(name, record.gain_attr(key))] = m[key] - value
        timings["evaluate_s"] = time.perf_counter() - t0 - scratch_s
        timings["scratch_s"] = scratch_s
        for key in HEADLINES:
            if record.downstream_attr(r.downstreams[0], key) not in metrics:
                continue  # no fine-tuning (recipe.finetune_epochs 0)
            vals = [metrics[record.downstream_attr(n, key)] for n in r.downstreams]
            gains = [
                metrics[record.downstream_attr(n, record.gain_attr(key))] for n in r.downstreams
            ]
            metrics[record.mean_attr(key)] = float(np.mean(vals))
            metrics[record.gain_attr(record.mean_attr(key))] = float(np.mean(gains))
        metrics[record.FINETUNE_COMPILED] = all(finetune_compiled)
        metrics[record.HEADLINE] = metrics[record.mean_attr(r.headline)]
        metrics[record.GAIN_HEADLINE] = metrics[record.gain_attr(record.mean_attr(r.headline))]
        # The same headline of the model without pre-training (same seed, same downstreams).
        scratch = record.scratch_attr(r.headline)
        metrics[record.SCRATCH_METRIC] = float(
            np.mean([metrics[record.downstream_attr(n, scratch)] for n in r.downstreams])
        )
        timings["total_s"] = time.perf_counter() - t_start
        metrics.update({record.time_attr(k): v for k, v in timings.items()})
        if device.type == "cuda":
            metrics[record.GPU_PEAK_MEM] = torch.cuda.max_memory_allocated(device) / 2**30
        info["timings"] = timings
        return TrialResult(COMPLETE, metrics=metrics, info=info)
