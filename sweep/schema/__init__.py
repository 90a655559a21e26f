"""The study file's schema: one typed, frozen model of the YAML file, read once.

A study file (``search_spaces/*.yaml``) is read and checked in two passes:

1. shape and types: :func:`sweep.schema.document.load_study_file` reads the YAML
   (:mod:`~sweep.schema.yamlfile`: the line of every key path; duplicate keys, tags, alias bombs
   and deep nesting refused) into :class:`~sweep.schema.study.StudyFile`, frozen pydantic models
   for every section (:mod:`~sweep.schema.engine`: objectives, sampler, pruner, budget, backend;
   :mod:`~sweep.schema.calibration`; :mod:`~sweep.schema.recipe`: the recipe overrides);
2. what spans keys, on the typed model: :mod:`~sweep.schema.fixed` (fixed generator parameters
   and recipe per profile), :mod:`~sweep.schema.search` (searched parameters ->
   :class:`sweep.space.ParamSpec`, the probe of searched ranges), run by
   :func:`sweep.study_config.load_study_config` (and ``sweep trial``, ``sweep calibrate``).

Every mistake is one :class:`~sweep.schema.errors.SchemaError` (``file``, ``line``, ``path``,
``kind``, ``message``; ``str()`` is ``file:line: key.path: message``). ``sweep schema`` prints
the JSON Schema (:mod:`~sweep.schema.jsonschema`), shipped as ``study.schema.json``.

Imports: this package's modules import the standard library, PyYAML, pydantic,
:mod:`sweep.errors`, :mod:`sweep.values`, :mod:`sweep.record`, :mod:`sweep.devices`,
:mod:`sweep.samplers` (names, options), :mod:`sweep.backends` (names), :mod:`sweep.space`
(``search`` only), the registries of :mod:`sweep.generators` and :mod:`proxy_tasks.spec`, and
:mod:`proxy_tasks.recipe`; never a proxy task or a command module (:mod:`sweep.cli`,
:mod:`sweep.trial`, the engine, the calibration): the ``layers`` and ``schema-names-only``
contracts of pyproject.toml. This file imports
nothing, so any module may import one of the package's modules without loading the others.
"""
