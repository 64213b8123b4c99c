"""Schemas of the project's YAML files, one module per file kind (see docs/catalog.md).

=====================  ==========================================  ===========================
file                   schema module                               loader (builds dataclasses)
=====================  ==========================================  ===========================
catalog.yaml    :mod:`cityplan.schema.catalog`              :func:`cityplan.catalog.load_catalog`
tasks.yaml      :mod:`cityplan.schema.tasks`                :func:`cityplan.tasks.register.load_register`
coverage_presets.yaml  :mod:`cityplan.schema.presets`              :func:`cityplan.coverage.presets.load_presets`
review_rules.yaml      :mod:`cityplan.schema.rules`                :func:`cityplan.review.rules.load_rules`
maps/*.yaml            :mod:`cityplan.schema.recipes`              :func:`cityplan.maps.recipes.load_recipe`
speeds.yaml     :mod:`cityplan.schema.speeds`               :func:`cityplan.network.graph.load_speeds`
quotas.yaml     :mod:`cityplan.schema.quotas`               :func:`cityplan.schema.quotas.load_quotas`
=====================  ==========================================  ===========================

Every model derives from :class:`cityplan.schema._base.StrictModel`; errors are one-line
:class:`cityplan.errors.SchemaError` (exit 2).
"""
