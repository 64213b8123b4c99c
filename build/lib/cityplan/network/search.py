"""One multi-source Dijkstra per facility set (scipy ``csgraph.dijkstra``, ``min_only``).

Facilities become virtual nodes joined to the two ends of the edge they snap to, so
a facility in the middle of a long street is reached at its real position; the
search runs on the *reversed* graph, giving for every node the cost of travelling
from it to the nearest facility (one-way streets matter when driving).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import csgraph

from cityplan.network.graph import RoadGraph
from cityplan.network.snap import Snap
from cityplan.network.union import map_threaded, union_all_threaded

WALK_ACCESS_MS = 4.5 / 3.6  # the few metres between a door and the road are walked


@dataclass
class Reach:
    """Result of a search: cost and nearest-source label per real node, and the costing used."""

    cost: np.ndarray  # (n_nodes,) cost to the nearest source (inf = beyond limit / unreachable)
    label: np.ndarray  # (n_nodes,) source label (-1 = none)
    per_m: np.ndarray  # cost per metre of each edge (nan = not usable)
    back_ok: np.ndarray  # edge may be travelled v -> u
    unit: str
    sources: Snap
    source_labels: np.ndarray
    limit: float


def _per_metre(graph: RoadGraph, mode: str, unit: str, speed_kmh: float | None) -> np.ndarray:
    return np.where(graph.usable(mode), 1.0, np.nan) if unit == "m" else 1.0 / graph.speed_ms(mode, speed_kmh)


def _access(unit: str, metres: np.ndarray) -> np.ndarray:
    return metres if unit == "m" else metres / WALK_ACCESS_MS


def reach_from_sources(
    graph: RoadGraph, sources: Snap, labels: np.ndarray, *, mode: str, unit: str,
    speed_kmh: float | None = None, limit: float = np.inf,
) -> Reach:
    """Cost from every node to its nearest source (one search for the whole set).

    Parameters
    ----------
    graph : RoadGraph
    sources : Snap
        Snapped access points of the facilities (unsnapped ones are ignored).
    labels : array
        Facility index of each access point.
    mode : {"walk", "bike", "drive"}
    unit : {"m", "s"}
        Cost in metres or seconds.
    limit : float
        Stop the search beyond this cost.
    """
    per_m = _per_metre(graph, mode, unit, speed_kmh)
    back_ok = ~(graph.oneway & (mode == "drive"))
    ok = np.flatnonzero(sources.ok)
    n = graph.n_nodes
    virt = n + np.arange(len(ok))
    e = sources.edge[ok]
    conn = _access(unit, sources.dist[ok])
    t = sources.offset[ok]
    # reversed orientation: the virtual node stands for "arrived at the facility"
    to_u = conn + t * per_m[e]  # a traveller on u -> v reaches the point from u
    to_v = conn + (graph.length[e] - t) * per_m[e]
    rows = np.concatenate([virt, virt[back_ok[e]]])
    cols = np.concatenate([graph.u[e], graph.v[e][back_ok[e]]])
    data = np.concatenate([to_u, to_v[back_ok[e]]])
    m = graph.matrix(mode, unit, speed_kmh, extra=(rows, cols, data), n_extra=len(ok), reverse=True)
    if len(ok) == 0:
        cost = np.full(n, np.inf)
        lab = np.full(n, -1)
    else:
        dist, _, src = csgraph.dijkstra(m, directed=True, indices=virt, min_only=True, limit=limit,
                                        return_predecessors=True)
        cost = dist[:n]
        src = src[:n]
        lab = np.where(src >= n, labels[ok][np.clip(src - n, 0, len(ok) - 1)], -1)
        lab = np.where(np.isfinite(cost), lab, -1)
    return Reach(cost=cost, label=lab, per_m=per_m, back_ok=back_ok, unit=unit, sources=sources,
                 source_labels=np.asarray(labels), limit=limit)


def access_costs(graph: RoadGraph, reach: Reach, demand: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Cost and nearest-source label for snapped demand points (inf / -1 when none)."""
    n = len(demand.edge)
    cost = np.full(n, np.inf)
    label = np.full(n, -1)
    ok = np.flatnonzero(demand.ok)
    e = demand.edge[ok]
    conn = _access(reach.unit, demand.dist[ok])
    t = demand.offset[ok]
    k = reach.per_m[e]
    via_v = conn + (graph.length[e] - t) * k + reach.cost[graph.v[e]]  # forward along the edge
    via_u = np.where(reach.back_ok[e], conn + t * k + reach.cost[graph.u[e]], np.inf)
    best = np.minimum(via_u, via_v)
    lab = np.where(via_u <= via_v, reach.label[graph.u[e]], reach.label[graph.v[e]])
    _same_edge(reach, e, t, conn, k, best, lab)
    best = np.where(best <= reach.limit, best, np.inf)
    cost[ok] = best
    label[ok] = np.where(np.isfinite(best), lab, -1)
    return cost, label


def _same_edge(reach: Reach, e: np.ndarray, t: np.ndarray, conn: np.ndarray, k: np.ndarray,
               best: np.ndarray, lab: np.ndarray) -> None:
    """A facility on a demand point's own edge may be reached directly along it (in place).

    Every (point, source on the same edge) pair at once: ``best`` becomes the cheaper of its
    value and the direct trip, and ``lab`` the label of the first source (in source order) at
    that cost - as a loop over the points and then the sources updating on a strictly lower cost.
    """
    s = reach.sources
    s_ok = np.flatnonzero(s.ok)
    if len(s_ok) == 0 or len(e) == 0:
        return
    order = np.argsort(s.edge[s_ok], kind="stable")  # by edge, source order kept within an edge
    fe, js = s.edge[s_ok][order], s_ok[order]
    lo = np.searchsorted(fe, e, side="left")
    cnt = np.searchsorted(fe, e, side="right") - lo
    ii = np.repeat(np.arange(len(e)), cnt)  # pairs, point-major, sources in order within a point
    jj = js[np.repeat(lo, cnt) + np.arange(len(ii)) - np.repeat(np.cumsum(cnt) - cnt, cnt)]
    d = s.offset[jj] - t[ii]
    ok = (d >= 0) | reach.back_ok[e[ii]]  # behind the point only where the edge is two-way
    ii, jj, d = ii[ok], jj[ok], d[ok]
    c = conn[ii] + np.abs(d) * k[ii] + _access(reach.unit, s.dist[jj])
    if len(c) == 0:
        return
    # per point the cheapest pair, the first one among equals (lexsort: point, cost, pair order)
    pick = np.lexsort((np.arange(len(c)), c, ii))
    first = pick[np.r_[True, ii[pick][1:] != ii[pick][:-1]]]
    i, better = ii[first], c[first] < best[ii[first]]
    best[i[better]] = c[first][better]
    lab[i[better]] = reach.source_labels[jj[first][better]]


def reached_lines(graph: RoadGraph, reach: Reach, limit: float) -> np.ndarray:
    """The parts of edges from which a source is reachable within ``limit`` (metric LineStrings).

    Whole edges are returned as they are; only partly reached ones are cut (:func:`substrings`,
    vectorised), in the order whole edges, partial edges (by edge, from-``u`` piece first), then
    the pieces around facilities in the middle of an edge.
    """
    per_m, cost, length = reach.per_m, reach.cost, graph.length
    usable = ~np.isnan(per_m)
    cu, cv = cost[graph.u], cost[graph.v]
    k = np.where(usable, per_m, np.inf)
    from_u = usable & reach.back_ok & (cu < limit)
    from_v = usable & (cv < limit)
    with np.errstate(invalid="ignore", divide="ignore"):
        end_u = np.where(from_u, np.minimum(length, (limit - cu) / k), 0.0)  # reached part [0, end_u]
        start_v = np.where(from_v, np.maximum(0.0, length - (limit - cv) / k), length)  # [start_v, len]
    whole = (from_u & (end_u >= start_v)) | (from_u & (end_u >= length)) | (from_v & (start_v <= 0))
    part = ~whole & (from_u | from_v)
    pu = np.flatnonzero(part & from_u & (end_u > 0.01))
    pv = np.flatnonzero(part & from_v & (length - start_v > 0.01))
    edge = np.concatenate([pu, pv])
    order = np.lexsort((np.r_[np.zeros(len(pu)), np.ones(len(pv))], edge))  # by edge, u piece first
    edge = edge[order]
    a = np.concatenate([np.zeros(len(pu)), start_v[pv]])[order]
    b = np.concatenate([end_u[pu], length[pv]])[order]
    s = reach.sources
    j = np.flatnonzero(s.ok)  # around facilities in the middle of an edge
    fe = s.edge[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (limit - _access(reach.unit, s.dist[j])) / per_m[fe]
    lo, hi = s.offset[j] - r, s.offset[j] + r
    fa = np.where(lo > 0.0, lo, 0.0)  # a NaN radius (edge not usable) keeps the whole edge, as before
    # on a one-way street (driving) the facility is reached from behind only
    fb = np.where(reach.back_ok[fe], np.where(hi < length[fe], hi, length[fe]), s.offset[j])
    keep = ~(r <= 0) & (fb - fa > 0.01)
    pieces = substrings(graph.geoms[np.concatenate([edge, fe[keep]])], np.concatenate([a, fa[keep]]),
                        np.concatenate([b, fb[keep]]))
    return np.concatenate([graph.geoms[whole], pieces]).astype(object)


def substrings(lines: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``shapely.ops.substring(line, start, end)`` for many lines at once (``start < end``, metres).

    The same pieces: the points at ``start`` and ``end`` (``shapely.line_interpolate_point``) and
    the vertices strictly between them.
    """
    if len(lines) == 0:
        return np.zeros(0, dtype=object)
    xy, idx = shapely.get_coordinates(lines, return_index=True)
    d = np.diff(xy, axis=0)
    seg = np.r_[0.0, np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)]
    first = np.searchsorted(idx, np.arange(len(lines)))
    pos = np.arange(len(xy)) - first[idx]  # vertex number within its line
    along = np.zeros(len(xy))  # distance of each vertex from its line's start, summed as substring does
    by = np.argsort(pos, kind="stable")
    bounds = np.searchsorted(pos[by], np.arange(int(pos.max()) + 2))
    for k in range(1, len(bounds) - 1):  # k-th vertices of every line at once
        at = by[bounds[k]:bounds[k + 1]]
        along[at] = along[at - 1] + seg[at]
    last = np.r_[np.diff(idx) != 0, True]
    inner = (along > start[idx]) & (along < end[idx]) & ~last  # as substring: never a line's end vertex
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(lines, start))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(lines, end))
    n = len(lines)
    which = np.concatenate([np.arange(n), idx[inner], np.arange(n)])
    rank = np.concatenate([np.full(n, -1), np.flatnonzero(inner), np.full(n, len(xy))])
    order = np.lexsort((rank, which))
    coords = np.concatenate([p0, xy[inner], p1])[order]
    return shapely.linestrings(coords, indices=which[order])


def isochrone(lines: np.ndarray, offroad_m: float, *, threads: int | None = None) -> shapely.Geometry:
    """Union of the reached lines widened by ``offroad_m``.

    Each piece is buffered on its own and the buffers unioned (GEOS cascaded union):
    buffering one merged multi-line is ~50x slower. Lines are simplified at 5 m and
    round ends use 2 segments per quarter circle (area error < 1 % at 100 m width).
    Many pieces (a stitched or very large city) are buffered and unioned on ``threads``
    threads (default: the cores available), by groups that do not touch
    (:mod:`cityplan.network.union`).
    """
    if len(lines) == 0:
        return shapely.Polygon()
    buffers = map_threaded(lambda g: shapely.buffer(_simplified(g, 5.0), offroad_m, quad_segs=2), lines,
                           threads=threads)
    return union_all_threaded(buffers, threads=threads)


def _simplified(lines: np.ndarray, tolerance: float) -> np.ndarray:
    """``shapely.simplify`` of the lines with more than two vertices (a segment stays as it is)."""
    out = np.array(lines, dtype=object)
    bent = shapely.get_num_coordinates(out) > 2
    out[bent] = shapely.simplify(out[bent], tolerance)
    return out
