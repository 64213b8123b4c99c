"""Write a small OSM extract (``.osm.pbf``) with pyosmium, for the synthetic test cities."""

from __future__ import annotations

from pathlib import Path

import osmium


def write_pbf(path: Path, nodes: list, ways: list) -> Path:
    """Write ``nodes`` ``(id, (lon, lat), tags)`` and ``ways`` ``(id, node_refs, tags)`` to ``path``."""
    if path.exists():
        path.unlink()
    with osmium.SimpleWriter(str(path)) as w:
        for i, (lon, lat), tags in nodes:
            w.add_node(osmium.osm.mutable.Node(id=i, location=(lon, lat), tags=tags, version=1))
        for i, refs, tags in ways:
            w.add_way(osmium.osm.mutable.Way(id=i, nodes=refs, tags=tags, version=1))
    return path
