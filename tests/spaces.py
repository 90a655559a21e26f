"""Search-space file templates shared by the tests (``str.format`` templates: braces doubled).

``ANALYTIC_SPACE``: the free ``analytic`` proxy over the freq band, placeholders ``study`` and
``trials``. ``vit_space_head(...)``: the first lines of a micro-ViT file (seconds a trial on 2
CPU cores), placeholder ``study`` unless given; callers append their own top-level keys.
"""

from __future__ import annotations

ANALYTIC_SPACE = """\
study: {study}
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}}
proxy: {{task: analytic, profile: cpu}}
objectives: [{{headline: maximize}}]
budget: {{trials: {trials}, workers: 2}}
"""


def vit_space_head(
    study: str = "{study}",
    *,
    question: str = "",
    pretrain: int = 2,
    finetune: int = 2,
    probe: int = 10,
) -> str:
    """Study, optional question, the freq band over [0, 8] and the micro ViT recipe."""
    q = f"question: {question}\n" if question else ""
    return (
        f"study: {study}\n{q}generator: {{{{name: visualatom}}}}\nsearch:\n"
        "  freq: {{type: int_range, low: 0, high: 8, min_width: 1, targets: [freq1, freq2]}}\n"
        "proxy:\n  task: vit\n  profile: cpu\n"
        "  recipe: {{classes: 8, instances: 16, img_size: 16, patch_size: 4, embed_dim: 32, "
        "depth: 1, num_heads: 2, "
        f"pretrain_epochs: {pretrain},\n"
        f"           batch_size: 32, finetune_epochs: {finetune}, finetune_batch: 64, "
        f"probe_epochs: {probe},\n"
        "           downstream_train: 200, downstream_test: 100, headline: finetune, "
        "downstreams: [digits]}}\n"
    )
