"""``sweep calibrate``: how far to trust a cheap proxy (proxy fidelity, GitHub issue 7).

A calibration file is an ordinary search-space file with a ``calibration:`` section::

    calibration:
      study: null             # default: <study>-calibration-<profile>
      design: sobol           # sobol | lhs (scrambled, seeded, over the searched parameters'
                              # Optuna space, range pairs as (min, span)) | list
      configs: 12             # configurations (at least 10)
      list: []                # design: list: one {param: value} per configuration
      seeds: [0, 1, 2]        # replicates of every (configuration, level), at least 2
      seed: 0                 # root seed of the design and of the bootstrap
      metric: headline        # default: the first objective (its direction)
      direction: maximize
      baselines: {scratch: maximize, pretrain_loss: minimize}   # trivial predictors
      top_k: 3
      threshold: 0.8          # the verdict: cheapest level with corrected rho >= threshold
      bootstrap: 2000         # two-stage bootstrap replicates
      levels:                 # the fidelity ladder, cheapest first; the last is the target
        - {name: L1, recipe: {classes: 32, instances: 32, pretrain_epochs: 10}}
        - {name: L2, recipe: {pretrain_epochs: 20}}
        - {name: L3, recipe: {}}
      profiles:               # per-profile overrides of any key above but study
        cpu: {configs: 10, seeds: [0, 1], levels: [...]}

Every (configuration, level, seed) is one trial of the calibration study, in the file's storage:
the trials are enqueued with fixed parameters and a ``sweep:fixed`` user attribute (the level's
recipe overrides, the seed, labels ``calibration:config|level|seed``) and run by the ordinary
engine (:func:`sweep.engine.run`: worker processes, heartbeats, a dead worker's trial retried
with the same parameters and level). Running the command again resumes: completed cells are
kept, missing or failed ones are run. The analysis (:mod:`sweep.fidelity`) is stored on the study
as ``sweep:calibration``; ``sweep launch`` warns when a search of the
same question runs below the level the verdict trusts
(:func:`sweep.calibration.warning.launch_warning`), and the report's calibration section
(``reports/sections/calibration.py``) shows it.

Baselines: ``scratch`` is the same model fine-tuned without pre-training (the mean over the
downstreams of ``<downstream>/scratch_<headline kind>``; it does not depend on the configuration,
so it scores what a random pick scores), ``pretrain_loss`` the final pre-training loss (lower
predicting better); any other name is a metric the trials store.

The package, by concern:

* :mod:`sweep.calibration.plan`: the ``calibration:`` section -> a validated :class:`Calibration`
  per profile (configurations drawn, levels resolved);
* :mod:`sweep.calibration.run`: creating the calibration study, enqueuing its cells, running them
  on the engine (:func:`~sweep.calibration.run.calibrate`);
* :mod:`sweep.calibration.analysis`: the summary stored on the study (``sweep:calibration``);
* :mod:`sweep.calibration.warning`: ``sweep launch``'s warning below a calibrated level;
* :mod:`sweep.calibration.summary`: the summary as terminal text and table rows.

Imports: this package's modules import :mod:`sweep.record`, :mod:`sweep.values`,
:mod:`sweep.stats`, :mod:`sweep.fidelity`, the schema and (``run`` only) the engine; nothing in
the engine imports them except :mod:`sweep.calibration.warning`, which imports no engine module.
"""
