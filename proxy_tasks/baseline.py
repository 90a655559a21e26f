"""The scratch baseline: the proxy's model fine-tuned downstream without pre-training, computed
once per (downstream, recipe, seed, device type) and cached as JSON, so every trial reports its
gain over it.

Imports: torch; :mod:`proxy_tasks.evaluation`, :mod:`proxy_tasks.models`,
:mod:`proxy_tasks.recipe`, :mod:`proxy_tasks.spec`, :mod:`proxy_tasks.torchutil`,
:mod:`sweep.seeding`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from proxy_tasks.evaluation import downstream_metrics
from proxy_tasks.models import create_vit
from proxy_tasks.recipe import Recipe, as_dict
from proxy_tasks.spec import TrialSpec
from proxy_tasks.torchutil import scoped_torch_seed
from sweep.seeding import Seeds

#: the recipe fields a scratch baseline depends on (its cache key)
FINETUNE_FIELDS = (
    "img_size",
    "in_chans",
    "model",
    "patch_size",
    "embed_dim",
    "depth",
    "num_heads",
    "mlp_ratio",
    "drop_path",
    "label_smoothing",
    "downstream_train",
    "downstream_test",
    "downstream_seed",
    "finetune_epochs",
    "finetune_batch",
    "finetune_lr",
    "finetune_weight_decay",
    "finetune_warmup_epochs",
    "finetune_rrc_scale",
    "rrc_ratio",
    "knn_k",
    "probe_epochs",
    "probe_lr",
    "precision",
)


def scratch_baseline(spec: TrialSpec, r: Recipe, name, d, xtr, ytr, xte, yte, device) -> dict:
    """The same model and fine-tuning without pre-training, computed once per (downstream,
    recipe, seed, device type) and cached as JSON under ``spec.cache_dir/scratch``."""
    rd = as_dict(r)
    key_data = {
        "downstream": name,
        "info": d.info.get("source", ""),
        "seed": spec.train_seed,
        "sizes": [int(xtr.shape[0]), int(xte.shape[0])],
        "device": device.type,
        "torch": torch.__version__.split("+")[0],
        "recipe": {k: rd[k] for k in FINETUNE_FIELDS},
    }
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
    metrics = downstream_metrics(model, xtr, ytr, xte, yte, d.num_classes, r, device, seeds, name)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key_data, "metrics": metrics}, indent=1))
        os.replace(tmp, path)
    return metrics
