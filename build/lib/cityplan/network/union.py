"""The union of many small polygons (an isochrone's buffered road pieces) on several threads.

GEOS unions ~60-100 µs of work per buffered road piece whatever the grouping (one cascaded
union, per-tile unions or a buffered multi-line all cost the same or more), so a city of
hundreds of thousands of reached pieces is made faster only by using more cores. Shapely
releases the GIL inside GEOS, so threads are enough.

The pieces are split into groups whose bounding boxes never overlap (connected components of
the grid cells the boxes cover): the union of the whole is then exactly the parts of the
groups' unions side by side, with no final union to pay, and each group's union is cheaper
than its share of one cascaded union (which also merges far-apart parts: ≈ 20 % less CPU on
25 stitched copies). Groups go to a pool of threads largest first. Below
:data:`PARALLEL_MIN` polygons, or when the polygons form one group, it is the one
``shapely.union_all`` it always was.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely
from scipy import sparse

from cityplan._cores import usable_cores

#: fewer polygons than this are unioned in one call on the calling thread
PARALLEL_MIN = 50_000
#: grid cell (metres) of the disjoint-group search; any size gives exact groups, this one keeps few cells
CELL_M = 1000.0


def default_threads() -> int:
    """The cores this process may use, at most 8."""
    return min(usable_cores(), 8)


def disjoint_groups(geoms: np.ndarray, *, cell_m: float = CELL_M) -> np.ndarray:
    """Group label per geometry: geometries of different groups have disjoint bounding boxes.

    Every box marks the grid cells it covers; cells covered by one box are joined, and the
    groups are the connected components of the cells. Two boxes that intersect share a cell,
    so they always land in the same group.
    """
    if len(geoms) == 0:
        return np.zeros(0, dtype=np.int64)
    b = shapely.bounds(geoms)
    i0, j0 = np.floor(b[:, 0] / cell_m).astype(np.int64), np.floor(b[:, 1] / cell_m).astype(np.int64)
    i1, j1 = np.floor(b[:, 2] / cell_m).astype(np.int64), np.floor(b[:, 3] / cell_m).astype(np.int64)
    ni, nj = i1 - i0 + 1, j1 - j0 + 1
    count = ni * nj
    owner = np.repeat(np.arange(len(geoms)), count)  # one row per (geometry, covered cell)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    ci = i0[owner] + k // nj[owner]
    cj = j0[owner] + k % nj[owner]
    cells, cell_of = np.unique(np.stack([ci, cj], axis=1), axis=0, return_inverse=True)
    cell_of = cell_of.ravel()
    first = cell_of[np.cumsum(count) - count]  # each geometry's first cell, joined to its others
    m = sparse.coo_matrix((np.ones(len(owner), dtype=np.int8), (first[owner], cell_of)),
                          shape=(len(cells), len(cells)))
    _, comp = sparse.csgraph.connected_components(m, directed=False)
    return comp[first]


def union_all_threaded(geoms: np.ndarray, *, threads: int | None = None,
                       min_size: int | None = None) -> shapely.Geometry:
    """``shapely.union_all(geoms)`` for polygons: group by group, on ``threads`` threads, when there are many.

    Each group (:func:`disjoint_groups`) is unioned on its own - cheaper than one cascaded union
    of everything, which also merges far-apart parts - largest groups first on a pool of
    threads. The result covers the same area as the one ``union_all``; its parts come group by
    group in a fixed order, whatever the threads' timing.
    """
    n_threads = default_threads() if threads is None else max(1, int(threads))
    if len(geoms) < (PARALLEL_MIN if min_size is None else min_size):
        return shapely.union_all(geoms)
    label = disjoint_groups(geoms)
    sizes = np.bincount(label)
    if len(sizes) < 2:
        return shapely.union_all(geoms)
    order = np.argsort(label, kind="stable")
    starts = np.searchsorted(label[order], np.arange(len(sizes) + 1))

    def one(g: int) -> np.ndarray:
        return shapely.get_parts(shapely.union_all(geoms[order[starts[g]:starts[g + 1]]]))

    todo = [int(g) for g in np.argsort(-sizes, kind="stable")]  # largest first: the pool ends together
    if n_threads < 2:
        done = dict(zip(todo, map(one, todo), strict=True))
    else:
        with ThreadPoolExecutor(n_threads) as ex:
            done = dict(zip(todo, ex.map(one, todo), strict=True))
    return shapely.multipolygons(np.concatenate([done[g] for g in range(len(sizes))]))


def map_threaded(func: Callable[..., np.ndarray], *arrays: np.ndarray, threads: int | None = None,
                 min_size: int | None = None) -> np.ndarray:
    """``func(*arrays)`` (element-wise, e.g. a vectorised shapely function) in contiguous chunks on threads.

    The result is the same as one call: each element is computed by the same function on the same inputs.
    """
    n_threads = default_threads() if threads is None else max(1, int(threads))
    n = len(arrays[0])
    if n_threads < 2 or n < (PARALLEL_MIN if min_size is None else min_size):
        return func(*arrays)
    cuts = np.linspace(0, n, n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as ex:
        out = list(ex.map(lambda k: func(*(a[cuts[k]:cuts[k + 1]] for a in arrays)), range(n_threads)))
    return np.concatenate(out)
