"""Snap points to the nearest usable edge, with a maximum snap distance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import shapely

from cityplan.network.graph import RoadGraph

#: points snapped per batch
CHUNK = 250_000


@dataclass
class Snap:
    """Where points meet the network: edge index (-1 = none within reach), offset from u, distance."""

    edge: np.ndarray
    offset: np.ndarray
    dist: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Points that found an edge within the maximum snap distance."""
        return self.edge >= 0


def _edge_tree(graph: RoadGraph, ok: np.ndarray) -> tuple[np.ndarray, shapely.STRtree]:
    """The edges in ``ok`` and their spatial index, built once per graph and subset (a run snaps
    facilities and demand to the same edges: a city of millions of edges builds one index)."""
    key = hashlib.sha1(np.packbits(ok).tobytes()).hexdigest()  # noqa: S324 - a cache key, not security
    if key not in graph.edge_trees:
        usable = np.flatnonzero(ok)
        graph.edge_trees.clear()  # one subset at a time: the index of millions of edges is large
        graph.edge_trees[key] = (usable, shapely.STRtree(graph.geoms[usable]))
    return graph.edge_trees[key]


def snap_points(graph: RoadGraph, xy: np.ndarray, *, mode: str, max_snap_m: float,
                mask: np.ndarray | None = None) -> Snap:
    """Nearest usable edge of ``mode`` within ``max_snap_m`` of each point (metric CRS).

    ``mask`` restricts the candidate edges (e.g. to the main connected component).
    """
    ok = graph.usable(mode) if mask is None else graph.usable(mode) & mask
    usable, tree = _edge_tree(graph, ok)
    edge = np.full(len(xy), -1, dtype=np.int64)
    d = np.full(len(xy), np.nan)
    off = np.full(len(xy), np.nan)
    for a in range(0, len(xy), CHUNK):  # points in chunks: bounded memory on a million features
        pts = shapely.points(xy[a:a + CHUNK])
        (pi, ei), dist = tree.query_nearest(pts, max_distance=max_snap_m, return_distance=True,
                                            all_matches=False)
        edge[a + pi] = usable[ei]
        d[a + pi] = dist
        off[a + pi] = shapely.line_locate_point(graph.geoms[usable[ei]], pts[pi])
    return Snap(edge=edge, offset=off, dist=d)
