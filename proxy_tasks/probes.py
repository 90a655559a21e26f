"""Measurements of a backbone on downstream data: frozen features, cosine kNN, a linear probe
and top-1 accuracy of a classifier.

Imports: torch; :mod:`proxy_tasks.recipe`, :mod:`proxy_tasks.torchutil`, :mod:`sweep.record`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from proxy_tasks.recipe import Recipe
from proxy_tasks.torchutil import autocast, scoped_torch_seed, to_float
from sweep import record


def features(model, x: torch.Tensor, r: Recipe, device, batch: int = 1024) -> torch.Tensor:
    """Pre-logit features of uint8 images ``x`` (float32, on ``device``), in eval mode."""
    model.eval()
    out = []
    with torch.no_grad(), autocast(device, r.precision):
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


def linear_probe(ftr, ytr, fte, yte, num_classes: int, r: Recipe, seed: int) -> dict[str, float]:
    """A linear classifier on standardised frozen features, full-batch AdamW: ``linear``, its
    top-1 accuracy (%), and ``linear_soft``, the mean probability it gives the true class (%),
    a continuous accuracy that a borderline test image moves by a fraction, not a whole hit."""
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
        logits = head(fte)
        acc = float((logits.argmax(1) == yte).float().mean()) * 100
        soft = float(logits.softmax(1).gather(1, yte[:, None]).mean()) * 100
    return {record.LINEAR: acc, record.LINEAR_SOFT: soft}


def evaluate(model, x: torch.Tensor, y: torch.Tensor, r: Recipe, device) -> float:
    """Top-1 accuracy (%) of ``model`` on uint8 images ``x`` and labels ``y``."""
    model.eval()
    correct = torch.zeros((), device=device)
    with torch.no_grad(), autocast(device, r.precision):
        for i in range(0, x.shape[0], 1024):
            xb = to_float(x[i : i + 1024].to(device), r.in_chans)
            correct += (model(xb).argmax(1) == y[i : i + 1024].to(device)).sum()
    return float(correct) / x.shape[0] * 100
