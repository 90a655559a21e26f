"""Proxy tasks: the cheap stand-ins for full FDSL pre-training that a sweep trial runs.

A proxy task turns a synthetic-dataset spec into metrics: it renders the dataset in memory (on the
GPU when there is one), pre-trains a small timm ViT on its class labels, and evaluates the
pre-trained backbone on real downstream data (full fine-tuning, kNN and a linear probe), next to
the same model trained from scratch.

>>> from proxy_tasks import run_trial, TrialSpec
>>> result = run_trial(TrialSpec(generator="visualatom", profile="cpu"))
>>> result.status, result.metrics["headline"]

Registry: ``PROXY_TASKS`` maps task names to classes, constructed without arguments, whose
instances follow :class:`proxy_tasks.spec.ProxyTask` (``run(spec, report) -> TrialResult``).
Modules: ``spec`` (trial, result, protocol, the registry), ``vit`` (the ViT task) and its stages
(``augment``, ``models``, ``training``, ``probes``, ``evaluation``, ``baseline``, ``torchutil``),
``downstream`` (the downstream datasets' registry), ``analytic``, ``recipe``.

Imports: :mod:`proxy_tasks.spec` (``PROXY_TASKS``, the registry, lives there: the study file's
schema reads it without this package's tasks). The tasks are imported by name, on first use.
"""

from __future__ import annotations

from proxy_tasks.spec import PROXY_TASKS


def run_trial(spec, report=None):
    """Run ``spec`` with its proxy task (see :class:`proxy_tasks.spec.TrialSpec`)."""
    return PROXY_TASKS.get(spec.task)().run(spec, report)


def __getattr__(name: str):
    if name in ("TrialSpec", "TrialResult"):
        from proxy_tasks import spec

        return getattr(spec, name)
    raise AttributeError(name)
