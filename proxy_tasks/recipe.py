"""The proxy recipe: a scaled-down version of the published FDSL protocol, and its presets.

The published protocol (shared/docs/diversity-and-proxies.md section 2) pre-trains ViT-Tiny/16 at
224 px on 1k classes x 1k images with AdamW (lr 1e-3, wd 0.05), cosine schedule with warm-up,
label smoothing 0.1, drop-path 0.1, mixup 0.8 / cutmix 1.0, random-resized-crop and NO horizontal
flip, then fully fine-tunes on real datasets. A recipe keeps every ingredient and scales the
sizes down: a micro ViT at 16-32 px for CPUs (preset ``cpu``), ViT-Tiny at 64 px for one GPU
(preset ``gpu``). Any field can be overridden (``--set recipe.pretrain_epochs=20``).

A bad override raises :class:`RecipeError`, which names the offending field (``err.field``) and
says what is wrong with it (``err.message``); ``str(err)`` is ``recipe.<field>: <message>``.
:func:`check_field` checks one override on its own (its type), :func:`make_recipe` the whole
combination (ranges, fields that constrain each other). The study file's schema
(:mod:`sweep.schema.recipe`) mirrors :class:`Recipe`'s fields from :data:`FIELDS`.

Imports: the standard library, :mod:`sweep.errors` and :mod:`sweep.record`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sweep import record
from sweep.errors import SweepError, did_you_mean


@dataclass(frozen=True)
class Recipe:
    # Synthetic pre-training data (rendered at img_size: thin contours alias when downsampled).
    classes: int = 100  # classes of the synthetic dataset
    instances: int = 100  # images per class
    img_size: int = 64
    in_chans: int = 1  # 1: grey; 3: grey (and downstream colour) replicated to RGB
    # Model: timm's VisionTransformer via create_model(model, ...).
    model: str = "vit_tiny_patch16_224"
    patch_size: int = 8
    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    # Pre-training: AdamW, cosine with warm-up, label smoothing, mixup/cutmix, RRC, no flip.
    pretrain_epochs: int = 40
    batch_size: int = 1024
    lr: float = 1e-3  # at batch 1024; scaled linearly with the batch
    weight_decay: float = 0.05
    warmup_epochs: int = 5
    label_smoothing: float = 0.1
    mixup: float = 0.8  # Beta(alpha, alpha) for mixup; 0 disables
    cutmix: float = 1.0  # Beta(alpha, alpha) for cutmix; 0 disables
    mix_prob: float = 1.0  # probability that a batch is mixed at all
    switch_prob: float = 0.5  # probability of cutmix rather than mixup when both are on
    rrc_scale: tuple[float, float] = (0.08, 1.0)  # random-resized-crop area range
    rrc_ratio: tuple[float, float] = (0.75, 1.3333)
    ema: float = 0.0  # decay per step of a weight average the pre-training ends on (0: none)
    # Fresh data: each pre-training epoch draws new instances of every class (class parameters
    # fixed, instance indices advancing with the epoch, deterministic from the data seed), so
    # the model never sees an image twice and nothing is stored; epoch 0 is the fixed dataset.
    fresh_data: bool = False
    # Downstream evaluation.
    downstreams: tuple[str, ...] = ("mnist5k", "textures")
    downstream_train: int = 0  # images per downstream train split (0: all)
    downstream_test: int = 0
    downstream_seed: int = 0  # the split: fixed across trials, so every trial sees the same data
    finetune_epochs: int = 30  # 0: no fine-tuning (a linear or knn headline only)
    finetune_batch: int = 256
    finetune_lr: float = 5e-4
    finetune_weight_decay: float = 0.05
    finetune_warmup_epochs: int = 3
    finetune_rrc_scale: tuple[float, float] = (0.6, 1.0)
    knn_k: int = 20
    probe_epochs: int = 100  # full-batch epochs of the linear probe
    probe_lr: float = 1e-2
    headline: str = "finetune"  # finetune | linear | linear_soft | knn: what a sweep optimises
    # Execution.
    precision: str = "bf16"  # bf16 (autocast on CUDA and CPU) or fp32
    compile: bool = True  # torch.compile the training step on CUDA (once per process)
    threads: int = 0  # torch CPU threads (0: torch's default)


PRESETS: dict[str, dict[str, Any]] = {
    # A micro ViT (0.1 M parameters) at 48 px with 12-px patches (16 tokens) for a laptop: the
    # size at which VisualAtom's frequency band is visible (sweep.visibility: 2.80 times the
    # seed-to-seed difference at 48 px, 1.31 at 16 px), on 16 classes x 160 images for 10
    # epochs without mixup, no fine-tuning, headline the linear probe on mnist5k-probe (2,000
    # training and 3,000 test MNIST digits). Chosen for decisions (issue 20): two arms on the
    # same seeds differ by a paired SD of 0.98 points per seed (freq [0, 20] vs [10, 20], 20
    # paired seeds, 95% CI 0.75-1.43; 1.33 with 1,000 test digits, 1.31 and 1.60 at 20 epochs),
    # about 9 s a trial on one core, so a 1-point decision costs about 2 CPU-minutes. Its gain
    # over scratch is +3.8 points (1.9 times its paired SD; +8.4 at 20 epochs). Measured with
    # benchmarks/noise.py on a 2-core CPU (README, "Deciding one point").
    "cpu": {
        "classes": 16,
        "instances": 160,
        "img_size": 48,
        "model": "vit_tiny_patch16_224",
        "patch_size": 12,
        "embed_dim": 64,
        "depth": 3,
        "num_heads": 2,
        "mlp_ratio": 2.0,
        "drop_path": 0.0,
        "pretrain_epochs": 10,
        "batch_size": 128,
        "lr": 2e-3,
        "warmup_epochs": 1,
        "mixup": 0.0,
        "cutmix": 0.0,
        "rrc_scale": (0.35, 1.0),
        "downstreams": ("mnist5k-probe",),
        "downstream_train": 2000,
        "finetune_epochs": 0,
        "finetune_batch": 128,
        "finetune_lr": 2e-3,
        "finetune_warmup_epochs": 1,
        "probe_epochs": 100,
        "precision": "fp32",
        "compile": False,
        "headline": "linear",
    },
    # ViT-Tiny (5.4 M parameters, patch 8) at 64 px on 100 classes x 100 images, the published
    # augmentation, bf16 and torch.compile, for one GPU (H200, measured: 14.5 s a trial with the
    # scratch baselines cached, 5.6 GiB of device memory; README, "Proxy tasks").
    "gpu": {"finetune_epochs": 20, "finetune_batch": 512, "finetune_lr": 1e-3},
}
#: the headline metrics a recipe can name (``linear_soft``: the probe's mean probability of the
#: true class, a continuous accuracy)
HEADLINES = record.HEADLINE_KINDS
PRECISIONS = ("bf16", "fp32")
#: every field of :class:`Recipe`, by name, in declaration order
FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Recipe)}


class RecipeError(SweepError):
    """A bad recipe override: ``field`` names it, ``message`` says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"recipe.{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self):  # picklable (worker processes)
        return (type(self), (self.field, self.message))


def _check(name: str, ok: bool, msg: str) -> None:
    if not ok:
        raise RecipeError(name, msg)


def make_recipe(profile: str, overrides: dict[str, Any] | None = None) -> Recipe:
    """The preset ``profile`` updated with ``overrides``, every value checked."""
    if profile not in PRESETS:
        raise SweepError(
            f"unknown profile '{profile}'{did_you_mean(profile, PRESETS)}; "
            f"choose one of: {', '.join(PRESETS)}"
        )
    values = dict(PRESETS[profile])
    for key, value in (overrides or {}).items():
        values[key] = check_field(key, value)
    recipe = Recipe(**values)
    validate(recipe)
    return recipe


def unknown_field_message(key: str) -> str:
    """What is said about a field :class:`Recipe` does not have."""
    return f"unknown recipe field{did_you_mean(key, FIELDS)}; valid: {', '.join(FIELDS)}"


def check_field(key: str, value: Any) -> Any:
    """One override on its own: ``value`` as the field's type (a pair as a tuple, an int as a
    float for float fields); :class:`RecipeError` for an unknown field or a wrong type."""
    if key not in FIELDS:
        raise RecipeError(key, unknown_field_message(key))
    return _coerce(key, FIELDS[key], value)


def _coerce(key: str, f: dataclasses.Field, value: Any) -> Any:
    default = f.default if f.default is not dataclasses.MISSING else None
    if isinstance(default, bool):
        _check(key, isinstance(value, bool), f"expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        _check(
            key,
            isinstance(value, int) and not isinstance(value, bool),
            f"expected an integer, got {value!r}",
        )
        return value
    if isinstance(default, float):
        _check(
            key,
            isinstance(value, int | float) and not isinstance(value, bool),
            f"expected a number, got {value!r}",
        )
        return float(value)
    if isinstance(default, str):
        _check(key, isinstance(value, str), f"expected a string, got {value!r}")
        return value
    if isinstance(default, tuple) and key in ("downstreams",):
        items = [value] if isinstance(value, str) else value
        _check(
            key,
            isinstance(items, list | tuple) and all(isinstance(v, str) for v in items),
            f"expected a list of dataset names, got {value!r}",
        )
        return tuple(items)
    if isinstance(default, tuple):
        ok = isinstance(value, list | tuple) and len(value) == 2
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        _check(key, ok, f"expected a [min, max] pair, got {value!r}")
        return (float(value[0]), float(value[1]))
    return value  # pragma: no cover


def validate(r: Recipe) -> None:
    for name in (
        "classes",
        "instances",
        "img_size",
        "patch_size",
        "embed_dim",
        "depth",
        "num_heads",
        "pretrain_epochs",
        "batch_size",
        "finetune_batch",
        "knn_k",
        "probe_epochs",
    ):
        _check(name, getattr(r, name) > 0, f"must be positive, got {getattr(r, name)}")
    _check(
        "finetune_epochs",
        r.finetune_epochs > 0 or r.headline != "finetune",
        f"must be positive when the headline is finetune, got {r.finetune_epochs}",
    )
    for name in (
        "finetune_epochs",
        "warmup_epochs",
        "finetune_warmup_epochs",
        "downstream_train",
        "downstream_test",
        "downstream_seed",
        "threads",
    ):
        _check(name, getattr(r, name) >= 0, f"must be >= 0, got {getattr(r, name)}")
    _check("img_size", r.img_size >= 8, f"{r.img_size} is too small; use at least 8")
    _check(
        "patch_size",
        r.img_size % r.patch_size == 0,
        f"{r.patch_size} does not divide img_size {r.img_size}",
    )
    _check(
        "num_heads",
        r.embed_dim % r.num_heads == 0,
        f"{r.num_heads} does not divide embed_dim {r.embed_dim}",
    )
    _check("in_chans", r.in_chans in (1, 3), f"must be 1 or 3, got {r.in_chans}")
    _check("headline", r.headline in HEADLINES, f"choose one of {', '.join(HEADLINES)}")
    _check("precision", r.precision in PRECISIONS, f"choose one of {', '.join(PRECISIONS)}")
    _check("downstreams", len(r.downstreams) > 0, "name at least one downstream dataset")
    for name in ("lr", "finetune_lr", "probe_lr"):
        _check(name, getattr(r, name) > 0, "must be positive")
    for name in (
        "weight_decay",
        "finetune_weight_decay",
        "label_smoothing",
        "mixup",
        "cutmix",
        "drop_path",
    ):
        _check(name, getattr(r, name) >= 0, "must be >= 0")
    for name in ("mix_prob", "switch_prob"):
        _check(name, 0 <= getattr(r, name) <= 1, "must be in [0, 1]")
    _check("ema", 0 <= r.ema < 1, f"must be in [0, 1), got {r.ema}")
    for name in ("rrc_scale", "finetune_rrc_scale"):
        lo, hi = getattr(r, name)
        _check(name, 0 < lo <= hi <= 1, f"need 0 < min <= max <= 1, got [{lo}, {hi}]")
    lo, hi = r.rrc_ratio
    _check("rrc_ratio", 0 < lo <= hi, f"need 0 < min <= max, got [{lo}, {hi}]")


def as_dict(r: Recipe) -> dict[str, Any]:
    d = dataclasses.asdict(r)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def recipe_dataset(spec: Any, profile: str) -> Any:
    """The dataset of a trial of the ViT proxy (``spec``: a :class:`proxy_tasks.spec.TrialSpec`):
    the recipe's ``classes`` x ``instances`` images at ``img_size`` drawn from the data seed,
    one block per pre-training epoch with fresh data (:data:`proxy_tasks.spec.TASK_DATASETS`)."""
    from sweep.dataset import DatasetSpec

    r = make_recipe(profile, dict(spec.recipe))
    return DatasetSpec(
        spec.generator,
        classes=r.classes,
        instances=r.instances,
        image_size=r.img_size,
        seed=spec.data_seed,
        params=dict(spec.params),
        epochs=r.pretrain_epochs if r.fresh_data else 1,
    )
