"""The bounds that keep a study finite, in one place: the command-line flags
(:mod:`sweep.cliargs`) and the study file's schema (:mod:`sweep.schema.engine`) both check them.

Imports: nothing.
"""

from __future__ import annotations

#: the largest search budget (``--trials``, ``budget.trials``): a launch queues a ticket per trial
MAX_TRIALS = 100_000
#: the most worker processes or Ray actors (``--workers``, ``budget.workers``) one launch starts
MAX_WORKERS = 1_024
#: the most candidates a confirmation races (``confirm.top``) and paired seeds per arm
#: (``confirm.seeds``, ``confirm.max_seeds``): (top + 1) x MAX_CONFIRM_SEEDS trials at most
MAX_CONFIRM_TOP, MAX_CONFIRM_SEEDS = 16, 64
