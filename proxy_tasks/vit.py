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
   (no pre-training), cached per (downstream, recipe, seed), so every trial reports its gain.

Randomness: the synthetic data from ``data_seed``; initialisation, data order, augmentation and
fine-tuning from ``train_seed``, through keyed generators (``sweep.seeding.Seeds``) and, for what
timm draws from torch's default generator (initialisation, drop-path), a scoped
``torch.random.fork_rng`` seeded from the same keys: the global state is restored afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from proxy_tasks.recipe import Recipe, as_dict, make_recipe
from proxy_tasks.spec import COMPLETE, FAILED, PRUNED, Diverged, Pruned, TrialResult, TrialSpec
from sweep.errors import SweepError
from sweep.seeding import Seeds

Report = Callable[[str, int, float], None]
_HOST_OOM = "host out of memory; lower recipe.batch_size, embed_dim or the dataset size"

_COMPILED: dict[str, Any] = {}  # compiled functions, created once per process


# ----------------------------------------------------------------------------- helpers
def resolve_profile(profile: str, device: torch.device) -> str:
    if profile == "auto":
        return "gpu" if device.type == "cuda" else "cpu"
    return profile


def resolve_torch_device(device: str) -> torch.device:
    from sweep.dataset import torch_device

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch_device(device, "device", "auto, cpu, cuda or cuda:N")


@contextlib.contextmanager
def scoped_torch_seed(seed: int, device: torch.device):
    """Seed torch's default generators for the block, then restore them."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def to_float(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    """uint8 (N, S, S) or (N, C, S, S) -> float (N, in_chans, S, S) normalised to [-1, 1]."""
    if x.dim() == 3:
        x = x[:, None]
    x = x.float().div_(127.5).sub_(1.0)
    if x.shape[1] != in_chans:
        x = x.expand(-1, in_chans, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    return x


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


def create_vit(r: Recipe, num_classes: int) -> torch.nn.Module:
    import timm

    try:
        return timm.create_model(
            r.model, pretrained=False, num_classes=num_classes, img_size=r.img_size,
            patch_size=r.patch_size, in_chans=r.in_chans, embed_dim=r.embed_dim, depth=r.depth,
            num_heads=r.num_heads, mlp_ratio=r.mlp_ratio, drop_path_rate=r.drop_path,
        )  # fmt: skip
    except RuntimeError as e:
        if "nknown model" in str(e):  # timm's error for a name it does not know
            raise SweepError(f"recipe.model: {e}") from None
        raise


def make_adamw(model, lr: float, weight_decay: float, device: torch.device):
    """timm's AdamW (no weight decay on biases and norms), fused on CUDA where supported."""
    from timm.optim import create_optimizer_v2

    if device.type == "cuda":
        try:
            return create_optimizer_v2(model, opt="adamw", lr=lr, weight_decay=weight_decay,
                                       fused=True)  # fmt: skip
        except (TypeError, RuntimeError):
            pass
    return create_optimizer_v2(model, opt="adamw", lr=lr, weight_decay=weight_decay)


def _schedule(optimizer, epochs: int, warmup: int, steps_per_epoch: int):
    from timm.scheduler import create_scheduler_v2

    sched, _ = create_scheduler_v2(
        optimizer, sched="cosine", num_epochs=epochs, warmup_epochs=min(warmup, epochs - 1),
        warmup_lr=1e-6, min_lr=1e-6, step_on_epochs=False, updates_per_epoch=steps_per_epoch,
    )  # fmt: skip
    return sched


def _features(model, x: torch.Tensor, r: Recipe, device, batch: int = 1024) -> torch.Tensor:
    model.eval()
    out = []
    with torch.no_grad(), _autocast(device, r.precision):
        for i in range(0, x.shape[0], batch):
            xb = to_float(x[i : i + batch].to(device, non_blocking=True), r.in_chans)
            f = model.forward_head(model.forward_features(xb), pre_logits=True)
            out.append(f.float())
    return torch.cat(out)


def knn_accuracy(ftr, ytr, fte, yte, k: int, num_classes: int) -> float:
    """Cosine kNN: the k most similar training features vote, weighted by similarity."""
    ftr = F.normalize(ftr, dim=1)
    fte = F.normalize(fte, dim=1)
    k = min(k, ftr.shape[0])
    correct = 0
    for i in range(0, fte.shape[0], 1024):
        sim, idx = (fte[i : i + 1024] @ ftr.T).topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], num_classes, device=sim.device)
        votes.scatter_add_(1, ytr[idx], sim.clamp(min=0) + 1e-6)
        correct += (votes.argmax(1) == yte[i : i + 1024]).sum()
    return float(correct) / fte.shape[0] * 100


def linear_probe_accuracy(ftr, ytr, fte, yte, num_classes: int, r: Recipe, seed: int) -> float:
    """A linear classifier on standardised frozen features, full-batch AdamW."""
    mean, std = ftr.mean(0), ftr.std(0) + 1e-6
    ftr, fte = (ftr - mean) / std, (fte - mean) / std
    with scoped_torch_seed(seed, ftr.device):
        head = torch.nn.Linear(ftr.shape[1], num_classes).to(ftr.device)
    opt = torch.optim.AdamW(head.parameters(), lr=r.probe_lr, weight_decay=1e-4)
    with torch.enable_grad():
        for _ in range(r.probe_epochs):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(head(ftr), ytr).backward()
            opt.step()
    with torch.no_grad():
        return float((head(fte).argmax(1) == yte).float().mean()) * 100


# ----------------------------------------------------------------------------- training
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
) -> dict[str, float]:
    """Train ``model`` on uint8 images ``x`` (on ``device``) and labels ``y``; returns stats.

    Batches are drawn without replacement (full batches only, so shapes are static for
    ``torch.compile``); the loss is accumulated on the device and read once per epoch.
    """
    from timm.loss import SoftTargetCrossEntropy

    n = x.shape[0]
    batch = min(batch, n)
    steps = n // batch
    opt = make_adamw(model, lr, weight_decay, device)
    sched = _schedule(opt, epochs, warmup, steps)
    criterion = SoftTargetCrossEntropy()
    gen = torch.Generator(device=device)
    gen.manual_seed(seeds.key32(key, "order"))
    mix_rng = seeds.rng(key, "mix")

    loss_fn = _compiled_loss() if compile and device.type == "cuda" else _loss
    compiled = loss_fn is not _loss

    def step(xb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nonlocal loss_fn, compiled
        with _autocast(device, r.precision):
            try:
                loss = loss_fn(model, criterion, xb, target)
            except Exception as e:  # a compiler failure must not cost the trial
                if not compiled:
                    raise
                print(f"sweep: torch.compile failed ({type(e).__name__}); running eager",
                      file=sys.stderr)  # fmt: skip
                loss_fn, compiled = _loss, False
                loss = _loss(model, criterion, xb, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    model.train()
    total = torch.zeros((), device=device)
    last = math.nan
    for epoch in range(epochs):
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
        last = float(total) / steps  # one host sync per epoch
        if not math.isfinite(last):
            raise Diverged(f"{key}: loss became {last} in epoch {epoch + 1}")
        if report is not None:
            report(f"{key}_loss", epoch + 1, last)
    return {"loss": last, "images": float(epochs * steps * batch), "compiled": compiled}


def _loss(model, criterion, xb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return criterion(model(xb), target)


def _compiled_loss():
    """``_loss`` through torch.compile, created once per process. The model is an argument, so
    dynamo treats its parameters as graph inputs and re-uses the compiled graph for every new
    model of the same architecture: later trials in a worker pay no compile time. Static shapes
    (``dynamic=False``): pre-training and each downstream's fine-tuning (its batch and head size)
    get a specialised graph each, compiled on first use."""
    fn = _COMPILED.get("loss")
    if fn is None:
        fn = _COMPILED["loss"] = torch.compile(_loss, dynamic=False)
    return fn


def evaluate(model, x: torch.Tensor, y: torch.Tensor, r: Recipe, device) -> float:
    model.eval()
    correct = torch.zeros((), device=device)
    with torch.no_grad(), _autocast(device, r.precision):
        for i in range(0, x.shape[0], 1024):
            xb = to_float(x[i : i + 1024].to(device), r.in_chans)
            correct += (model(xb).argmax(1) == y[i : i + 1024].to(device)).sum()
    return float(correct) / x.shape[0] * 100


# ----------------------------------------------------------------------------- the task
class ViTProxy:
    """Pre-train a ViT on a synthetic dataset and evaluate it on downstream data."""

    name = "vit"

    def run(self, spec: TrialSpec, report: Report | None = None) -> TrialResult:
        info: dict[str, Any] = {"spec": _spec_dict(spec)}
        try:
            return self._run(spec, report, info)
        except Pruned as e:
            return TrialResult(PRUNED, message=str(e) or "pruned", info=info)
        except Diverged as e:
            return TrialResult(FAILED, error_type="diverged", message=str(e), info=info)
        except torch.cuda.OutOfMemoryError as e:
            msg = str(e).splitlines()[0] if str(e) else "CUDA out of memory"
            return TrialResult(FAILED, error_type="out_of_memory",
                               message=f"{msg}; lower recipe.batch_size or img_size",
                               info=info)  # fmt: skip
        except MemoryError:
            return TrialResult(FAILED, error_type="out_of_memory", message=_HOST_OOM, info=info)
        except SweepError as e:
            kind = "data" if str(e).startswith("downstream") else "config"
            return TrialResult(FAILED, error_type=kind, message=str(e), info=info)
        except Exception as e:
            if type(e).__name__ == "TrialPruned":  # optuna.TrialPruned from a report callback
                return TrialResult(PRUNED, message=str(e) or "pruned", info=info)
            if isinstance(e, RuntimeError) and "can't allocate memory" in str(e):
                return TrialResult(FAILED, error_type="out_of_memory", message=_HOST_OOM,
                                   info=info)  # fmt: skip
            raise

    def _run(self, spec: TrialSpec, report: Report | None, info: dict) -> TrialResult:
        from proxy_tasks.downstream import load_downstream
        from sweep.dataset import Dataset, DatasetSpec

        t_start = time.perf_counter()
        device = resolve_torch_device(spec.device)
        profile = resolve_profile(spec.profile, device)
        r = make_recipe(profile, dict(spec.recipe))
        if r.threads:
            torch.set_num_threads(r.threads)
        info.update(profile=profile, device=str(device), recipe=as_dict(r))
        seeds = Seeds(spec.train_seed)
        timings: dict[str, float] = {}

        # 1. generate -----------------------------------------------------------------
        t0 = time.perf_counter()
        ds = Dataset(DatasetSpec(spec.generator, classes=r.classes, instances=r.instances,
                                 image_size=r.img_size, seed=spec.data_seed,
                                 params=dict(spec.params)))  # fmt: skip
        x_syn, y_syn = ds.tensors(device)
        _sync(device)
        timings["generate_s"] = time.perf_counter() - t0
        info["dataset"] = {"fingerprint": ds.fingerprint, **ds.config()}
        from timm.data.mixup import mixup_target  # noqa: F401  (its import is not the block's time)

        t0 = time.perf_counter()
        diversity = dataset_diversity(x_syn, y_syn, r, spec)
        timings["diversity_s"] = time.perf_counter() - t0

        # 2. pre-train ----------------------------------------------------------------
        t0 = time.perf_counter()
        with scoped_torch_seed(seeds.key32("init"), device):
            model = create_vit(r, r.classes).to(device)
            stats = train_classifier(
                model, x_syn, y_syn, r.classes, r, epochs=r.pretrain_epochs,
                batch=r.batch_size, lr=r.lr * min(r.batch_size, len(ds)) / 1024,
                weight_decay=r.weight_decay,
                warmup=r.warmup_epochs, rrc_scale=r.rrc_scale, mix=True, device=device,
                seeds=seeds, key="pretrain", report=report,
                compile=r.compile,
            )  # fmt: skip
        _sync(device)
        timings["pretrain_s"] = time.perf_counter() - t0
        del x_syn, y_syn
        metrics: dict[str, Any] = {
            "pretrain_loss": stats["loss"],
            "pretrain_compiled": stats["compiled"],
            "pretrain_images_per_s": stats["images"] / timings["pretrain_s"],
        }
        metrics.update({f"{DIVERSITY_PREFIX}{k}": v for k, v in diversity.items()
                        if k != "time_s"})  # fmt: skip

        # 3. evaluate -----------------------------------------------------------------
        t0 = time.perf_counter()
        scratch_s = 0.0
        finetune_compiled: list[bool] = []
        for name in r.downstreams:
            d = load_downstream(
                name, image_size=r.img_size, in_chans=r.in_chans, root=spec.roots.get(name),
                seed=r.downstream_seed, max_train=r.downstream_train or None,
                max_test=r.downstream_test or None, download=spec.download,
            )  # fmt: skip
            xtr, ytr = d.x_train.to(device), d.y_train.to(device)
            xte, yte = d.x_test.to(device), d.y_test.to(device)
            ft_stats: dict[str, Any] = {}
            m = downstream_metrics(model, xtr, ytr, xte, yte, d.num_classes, r, device,
                                   seeds, name, ft_stats)  # fmt: skip
            finetune_compiled.append(bool(ft_stats.get("compiled")))
            t1 = time.perf_counter()
            base = scratch_baseline(spec, r, name, d, xtr, ytr, xte, yte, device)
            scratch_s += time.perf_counter() - t1
            for key, value in m.items():
                metrics[f"{name}/{key}"] = value
            for key, value in base.items():
                metrics[f"{name}/scratch_{key}"] = value
                metrics[f"{name}/gain_{key}"] = m[key] - value
        timings["evaluate_s"] = time.perf_counter() - t0 - scratch_s
        timings["scratch_s"] = scratch_s
        for key in ("finetune", "knn", "linear"):
            vals = [metrics[f"{n}/{key}"] for n in r.downstreams]
            metrics[f"{key}_mean"] = float(np.mean(vals))
            metrics[f"gain_{key}_mean"] = float(np.mean([metrics[f"{n}/gain_{key}"]
                                                         for n in r.downstreams]))  # fmt: skip
        metrics["finetune_compiled"] = all(finetune_compiled)
        metrics["headline"] = metrics[f"{r.headline}_mean"]
        metrics["gain_headline"] = metrics[f"gain_{r.headline}_mean"]
        timings["total_s"] = time.perf_counter() - t_start
        metrics.update({f"time_{k}": v for k, v in timings.items()})
        if device.type == "cuda":
            metrics["gpu_peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        info["timings"] = timings
        return TrialResult(COMPLETE, metrics=metrics, info=info)


def downstream_metrics(
    model, xtr, ytr, xte, yte, num_classes, r: Recipe, device, seeds, name, stats=None
):
    """kNN and linear probe on frozen features, RankMe and Vendi of those features, then full
    fine-tuning of a copy of ``model`` (its training stats go to ``stats`` when given)."""
    from sweep.diversity import feature_block

    ftr = _features(model, xtr, r, device)
    fte = _features(model, xte, r, device)
    out = {
        "knn": knn_accuracy(ftr, ytr, fte, yte, r.knn_k, num_classes),
        "linear": linear_probe_accuracy(
            ftr, ytr, fte, yte, num_classes, r, seeds.key32("probe", name)
        ),
        **feature_block(ftr.cpu().numpy(), seed=seeds.key32("features", name), key=name),
    }
    ft = copy.deepcopy(model)
    with scoped_torch_seed(seeds.key32("finetune-head", name), device):
        ft.reset_classifier(num_classes)
        ft.to(device)
        ft_stats = finetune(ft, xtr, ytr, num_classes, r, device, seeds, name)
    if stats is not None:
        stats.update(ft_stats)
    out["finetune"] = evaluate(ft, xte, yte, r, device)
    return out


DIVERSITY_PREFIX = "diversity/"


def pretrain_augment(r: Recipe, seed: int):
    """The pre-training augmentation (random-resized-crop, then mixup/cutmix in batch mode) as
    a function of uint8 images (N, S, S) -> [0, 1] float images, for the diversity block."""

    def augment(images: np.ndarray) -> np.ndarray:
        seeds = Seeds(seed)
        gen = torch.Generator()
        gen.manual_seed(seeds.key32("diversity-augment", "rrc"))
        x = random_resized_crop(to_float(torch.from_numpy(images), 1), r.rrc_scale,
                                r.rrc_ratio, gen)  # fmt: skip
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
        return diversity_block(images, labels[idx], n=len(idx), seed=spec.data_seed,
                               augment=pretrain_augment(r, spec.train_seed))  # fmt: skip


def finetune(model, xtr, ytr, num_classes, r: Recipe, device, seeds, name) -> dict:
    return train_classifier(
        model, xtr, ytr, num_classes, r, epochs=r.finetune_epochs, batch=r.finetune_batch,
        lr=r.finetune_lr, weight_decay=r.finetune_weight_decay, warmup=r.finetune_warmup_epochs,
        rrc_scale=r.finetune_rrc_scale, mix=False, device=device, seeds=seeds,
        key=f"finetune-{name}", compile=r.compile,
    )  # fmt: skip


FINETUNE_FIELDS = ("img_size", "in_chans", "model", "patch_size", "embed_dim", "depth",
                   "num_heads", "mlp_ratio", "drop_path", "label_smoothing", "downstream_train",
                   "downstream_test", "downstream_seed", "finetune_epochs", "finetune_batch",
                   "finetune_lr", "finetune_weight_decay", "finetune_warmup_epochs",
                   "finetune_rrc_scale", "rrc_ratio", "knn_k", "probe_epochs", "probe_lr",
                   "precision")  # fmt: skip


def scratch_baseline(spec: TrialSpec, r: Recipe, name, d, xtr, ytr, xte, yte, device) -> dict:
    """The same model and fine-tuning without pre-training, computed once per (downstream,
    recipe, seed, device type) and cached as JSON under ``spec.cache_dir/scratch``."""
    rd = as_dict(r)
    key_data = {"downstream": name, "info": d.info.get("source", ""), "seed": spec.train_seed,
                "sizes": [int(xtr.shape[0]), int(xte.shape[0])],
                "device": device.type, "torch": torch.__version__.split("+")[0],
                "recipe": {k: rd[k] for k in FINETUNE_FIELDS}}  # fmt: skip
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(spec.cache_dir) / "scratch" / f"{name}-{key}.json" if spec.cache_dir else None
    if path is not None and path.is_file():
        try:
            return json.loads(path.read_text())["metrics"]
        except (ValueError, KeyError):
            pass  # a damaged cache entry is recomputed
    seeds = Seeds(spec.train_seed)
    with scoped_torch_seed(seeds.key32("init"), device):
        model = create_vit(r, d.num_classes).to(device)
    metrics = downstream_metrics(model, xtr, ytr, xte, yte, d.num_classes, r, device, seeds,
                                 name)  # fmt: skip
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key_data, "metrics": metrics}, indent=1))
        os.replace(tmp, path)
    return metrics


def _spec_dict(spec: TrialSpec) -> dict[str, Any]:
    return {
        "generator": spec.generator, "params": dict(spec.params), "task": spec.task,
        "profile": spec.profile, "recipe": dict(spec.recipe), "data_seed": spec.data_seed,
        "train_seed": spec.train_seed, "device": spec.device,
    }  # fmt: skip
