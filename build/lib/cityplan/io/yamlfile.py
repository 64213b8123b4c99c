"""Compatibility name of the strict YAML reader, which lives in :mod:`cityplan.schema._yaml`.

(:mod:`cityplan.schema` must not import the :mod:`cityplan.io` package, which pulls in geopandas.)
"""

from __future__ import annotations

from cityplan.schema._yaml import MAX_BYTES, MAX_NODES, load_yaml, parse_yaml_text

__all__ = ["MAX_BYTES", "MAX_NODES", "load_yaml", "parse_yaml_text"]
