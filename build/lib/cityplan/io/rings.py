"""Rings to polygons by containment (CAD hatches, survey parcels with holes)."""

from __future__ import annotations

import shapely
from shapely.geometry import Polygon


def close_ring(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Repeat the first vertex at the end if it is not there yet."""
    if coords and coords[0] != coords[-1]:
        return [*coords, coords[0]]
    return coords


def rings_to_polygons(rings: list[list[tuple[float, float]]]) -> list[Polygon]:
    """Polygons from closed rings: a ring inside an odd number of others is a hole.

    Rings with fewer than three distinct vertices are ignored by the caller's
    count (they cannot bound an area). Each hole goes to the smallest ring
    around it.
    """
    polys = [Polygon(close_ring(r)) for r in rings if len(set(r)) >= 3]
    order = sorted(range(len(polys)), key=lambda i: -abs(polys[i].area))
    polys = [polys[i] for i in order]
    depth = [0] * len(polys)
    parent: list[int | None] = [None] * len(polys)
    for i, p in enumerate(polys):
        rp = p.representative_point()
        for j in range(i):  # only larger rings can contain this one
            if polys[j].contains(rp) and (parent[i] is None or polys[j].area < polys[parent[i]].area):
                parent[i] = j
        depth[i] = 0 if parent[i] is None else depth[parent[i]] + 1
    shells = {i: [] for i in range(len(polys)) if depth[i] % 2 == 0}
    for i in range(len(polys)):
        if depth[i] % 2 == 1 and parent[i] is not None:
            shells[parent[i]].append(polys[i].exterior.coords)
    return [shapely.Polygon(polys[i].exterior.coords, holes) for i, holes in shells.items()]
