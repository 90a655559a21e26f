"""sweep: design-space search for formula-driven supervised learning (FDSL).

Public API (heavy dependencies are imported lazily):

* :class:`sweep.dataset.DatasetSpec`, :class:`sweep.dataset.Dataset`: synthetic datasets in memory
* :func:`sweep.generators.get_generator`, :func:`sweep.generators.list_generators`
* :func:`sweep.generate.generate`: write a dataset to disk
"""

__version__ = "0.1.0"
