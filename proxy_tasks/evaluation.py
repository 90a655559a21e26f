"""The downstream protocol of one backbone on one downstream dataset: kNN and a linear probe on
frozen features, RankMe and Vendi of those features, then full fine-tuning of a copy.

Imports: torch; :mod:`proxy_tasks.probes`, :mod:`proxy_tasks.recipe`,
:mod:`proxy_tasks.torchutil`, :mod:`proxy_tasks.training`, :mod:`sweep.record`,
:mod:`sweep.diversity` (lazily).
"""

from __future__ import annotations

import copy

from proxy_tasks.probes import evaluate, features, knn_accuracy, linear_probe
from proxy_tasks.recipe import Recipe
from proxy_tasks.torchutil import scoped_torch_seed
from proxy_tasks.training import finetune
from sweep import record


def downstream_metrics(
    model, xtr, ytr, xte, yte, num_classes, r: Recipe, device, seeds, name, stats=None
):
    """kNN and linear probe on frozen features, RankMe and Vendi of those features, then full
    fine-tuning of a copy of ``model`` (its training stats go to ``stats`` when given; none
    when ``r.finetune_epochs`` is 0, and no ``finetune`` key)."""
    from sweep.diversity import feature_block

    ftr = features(model, xtr, r, device)
    fte = features(model, xte, r, device)
    out = {
        record.KNN: knn_accuracy(ftr, ytr, fte, yte, r.knn_k, num_classes),
        **linear_probe(ftr, ytr, fte, yte, num_classes, r, seeds.key32("probe", name)),
        **feature_block(ftr.cpu().numpy(), seed=seeds.key32("features", name), key=name),
    }
    if r.finetune_epochs == 0:
        return out
    ft = copy.deepcopy(model)
    with scoped_torch_seed(seeds.key32("finetune-head", name), device):
        ft.reset_classifier(num_classes)
        ft.to(device)
        ft_stats = finetune(ft, xtr, ytr, num_classes, r, device, seeds, name)
    if stats is not None:
        stats.update(ft_stats)
    out[record.FINETUNE] = evaluate(ft, xte, yte, r, device)
    return out
