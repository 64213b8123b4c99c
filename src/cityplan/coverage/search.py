"""Coverage strategies: straight-line (euclid) and network (walk/bike/drive, and transit on a
:class:`~cityplan.network.transit.TransitGraph`) search.

Each returns a :class:`Search`: per demand feature the cost to the nearest facility (metres and
seconds), which facility, whether it is within the limit, why not when it is not, plus the
service area (isochrone) and which facilities could be used. One status classifier,
:func:`classify`, turns that into the per-feature ``status``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from cityplan._errors import CoverageError
from cityplan.coverage.spec import CoverageSpec
from cityplan.network import RoadGraph, snap_points
from cityplan.network.search import access_costs, isochrone, reach_from_sources, reached_lines

NOT_SNAPPED = "not snapped"
UNREACHABLE = "unreachable: no facility on its network component"
BEYOND = "not covered (beyond 3x limit)"
STATUSES = ("covered", "not covered", BEYOND, NOT_SNAPPED, UNREACHABLE, "no geometry")
#: the limit is inclusive - a compound exactly at it is covered; costs are compared with this
#: allowance (metres or seconds) for the floating-point noise of reprojection (~1e-9 m), far below
#: any input's precision, so a compound at the limit by construction is not decided by rounding
LIMIT_TOLERANCE = 1e-6


def within_limit(cost: np.ndarray, limit: float) -> np.ndarray:
    """True where ``cost`` is within ``limit`` (inclusive: ``cost <= limit``, see :data:`LIMIT_TOLERANCE`)."""
    return np.asarray(cost) <= limit + LIMIT_TOLERANCE


@dataclass
class Search:
    """What a strategy found."""

    iso: shapely.Geometry
    cost_m: np.ndarray
    cost_s: np.ndarray
    label: np.ndarray            # index of the nearest facility, -1 if none
    within: np.ndarray           # cost within the limit (before status)
    facility_ok: np.ndarray      # facilities that could be used
    not_snapped: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    unreachable: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    beyond: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # beyond the 3x search
    routed: tuple | None = None  # (graph, facility snaps, access labels, demand snaps)
    params: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: extra per-feature columns (transit timetable: median and percentile minutes, walking only)
    columns: dict[str, np.ndarray] = field(default_factory=dict)


def classify(empty: np.ndarray, s: Search) -> np.ndarray:
    """The one status classifier: every demand feature gets exactly one of :data:`STATUSES`."""
    n = len(empty)
    status = np.full(n, "not covered", dtype=object)

    def flag(a: np.ndarray) -> np.ndarray:
        return a if len(a) else np.zeros(n, bool)

    # later assignments win: no geometry > not snapped > unreachable > beyond > covered
    status[flag(s.beyond)] = BEYOND
    status[s.within] = "covered"
    status[flag(s.unreachable)] = UNREACHABLE
    status[flag(s.not_snapped)] = NOT_SNAPPED
    status[empty] = "no geometry"
    return status


def nothing(n: int, empty: np.ndarray, why: str) -> Search:
    """A scenario without a facility (e.g. *existing* when every site is planned): nothing covered."""
    return Search(iso=shapely.Polygon(), cost_m=np.full(n, np.inf), cost_s=np.full(n, np.inf),
                  label=np.full(n, -1), within=np.zeros(n, bool), facility_ok=np.zeros(0, bool),
                  warnings=[why])


def radii(rules: tuple[dict[str, float], ...], fac_w: gpd.GeoSeries, default: float) -> np.ndarray:
    """Per-facility radius: the first matching rule by facility area, else ``default``."""
    if not rules:
        return np.full(len(fac_w), default)
    area = fac_w.area.to_numpy()
    r = np.full(len(fac_w), np.nan)
    for rule in rules:  # first matching rule wins
        hit = np.isnan(r) & (area >= float(rule.get("min_area_m2", 0)))
        r[hit] = float(rule["radius_m"])
    return r


def euclid(spec: CoverageSpec, fac_w: gpd.GeoDataFrame, rep_xy: np.ndarray) -> Search:
    """Straight-line coverage: buffers around facilities (per-facility radius rules)."""
    radius = spec.limit_m
    r = radii(spec.preset.radius_rules if spec.preset else (), fac_w.geometry, radius)
    usable = ~np.isnan(r)
    geoms = fac_w.geometry.to_numpy()
    buffers = shapely.buffer(geoms[usable], r[usable], quad_segs=16)
    iso = shapely.union_all(buffers)
    ok = ~np.isnan(rep_xy[:, 0])
    cost = np.full(len(rep_xy), np.inf)
    label = np.full(len(rep_xy), -1)
    if ok.any() and usable.any():
        tree = shapely.STRtree(geoms[usable])
        (pi, fi), d = tree.query_nearest(shapely.points(rep_xy[ok]), return_distance=True, all_matches=False)
        idx = np.flatnonzero(ok)[pi]
        cost[idx] = d
        label[idx] = np.flatnonzero(usable)[fi]
    # covered: within the facility's radius, measured exactly (the buffers are polygons inscribed
    # in the circles, up to 0.1 % of the radius short between their vertices, and exclude their edge)
    within = np.zeros(len(rep_xy), bool)
    if ok.any() and usable.any():
        pts = shapely.points(rep_xy[ok])
        for rv in np.unique(r[usable]):
            tree = shapely.STRtree(geoms[usable & (r == rv)])
            hit = tree.query(pts, predicate="dwithin", distance=float(rv) + LIMIT_TOLERANCE)
            within[np.flatnonzero(ok)[np.unique(hit[0])]] = True
    cost_s = cost / (spec.speed_kmh / 3.6) if spec.speed_kmh else np.full(len(cost), np.nan)
    return Search(iso=iso, cost_m=cost, cost_s=cost_s, label=label, within=within, facility_ok=usable,
                  params={"radius_m": sorted({float(x) for x in r[usable]})})


def access_points(fac_w: gpd.GeoSeries, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each facility can be entered: the point itself, or points along a polygon's edge."""
    xy, lab = [], []
    for i, g in enumerate(fac_w.to_numpy()):
        if g.geom_type in ("Point", "MultiPoint"):
            pts = shapely.get_coordinates(g)
        else:
            ring = g.boundary if g.geom_type in ("Polygon", "MultiPolygon") else g
            n = max(4, int(np.ceil(ring.length / spacing_m)))
            pts = shapely.get_coordinates(ring.interpolate(np.linspace(0, 1, n, endpoint=False), normalized=True))
        xy.append(pts)
        lab.append(np.full(len(pts), i))
    return np.concatenate(xy), np.concatenate(lab)


def _isochrone(graph: Any, reach: Any, limit: float, offroad_m: float, cache: dict | None) -> shapely.Geometry:
    """The isochrone, reused when another scenario of the run reached exactly the same (the
    union of buffers is the costly step; e.g. a metro section no existing facility's trips use)."""
    if cache is None:
        return isochrone(reached_lines(graph, reach, limit), offroad_m)
    h = hashlib.sha1(np.where(reach.cost < limit, np.round(reach.cost, 6), -1.0).tobytes())
    for a in (reach.sources.edge, reach.sources.offset, reach.sources.dist, [limit, offroad_m]):
        h.update(np.asarray(a, dtype=float).tobytes())
    key = h.hexdigest()
    if key not in cache:
        cache[key] = isochrone(reached_lines(graph, reach, limit), offroad_m)
    return cache[key]


def timetable(spec: CoverageSpec, net: Any, fac_w: gpd.GeoDataFrame, rep_xy: np.ndarray,
              empty: np.ndarray, *, iso_cache: dict | None = None) -> Search:
    """Transit by timetable (:mod:`cityplan.transit`): walk + ride times over every departure minute.

    ``cost_s`` is the statistic that decides coverage (the median, or the profile's percentile);
    ``columns`` adds ``time_median_min``, ``time_pNN_min`` and ``walk_only_min`` per feature.
    """
    from cityplan.transit.access import feed_search

    lim = spec.within
    net.check_connected()
    axy, alab = access_points(fac_w.geometry, spec.access_spacing_m)
    fs = feed_search(net, axy, alab, rep_xy, empty, limit_s=lim.value, max_snap_m=spec.max_snap_m,
                     horizon_s=3 * lim.value)
    fac_ok = np.zeros(len(fac_w), bool)
    fac_ok[np.unique(alab[fs.s_fac.ok])] = True
    if not fac_ok.any():
        msg = f"no facility is within {spec.max_snap_m:g} m of the walk network; cannot route"
        raise CoverageError(msg)
    not_snapped = ~fs.s_dem.ok & ~empty
    walk = net.walk
    comp = walk.components
    fac_comps = set(comp[walk.u[fs.s_fac.edge[fs.s_fac.ok]]])
    dem_comp = np.where(fs.s_dem.ok, comp[walk.u[np.maximum(fs.s_dem.edge, 0)]], -1)
    isolated = fs.s_dem.ok & ~np.isin(dem_comp, list(fac_comps)) & ~empty & ~np.isfinite(fs.cost)
    iso = _isochrone(walk, fs.reach, lim.value, spec.offroad_m, iso_cache)
    pct = int(net.settings["percentile"])

    def minutes(a: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(a), np.round(a / 60, 2), np.nan)

    warnings = []
    if not_snapped.any():
        warnings.append(f"{int(not_snapped.sum())} demand feature(s) farther than {spec.max_snap_m:g} m "
                        "from the walk network: flagged 'not snapped'")
    label = np.where(np.isfinite(fs.cost), fs.label, -1)
    return Search(iso=iso, cost_m=np.full(len(fs.cost), np.nan), cost_s=fs.cost, label=label,
                  within=within_limit(fs.cost, lim.value), facility_ok=fac_ok, not_snapped=not_snapped,
                  unreachable=isolated, beyond=~np.isfinite(fs.cost), routed=None, warnings=warnings,
                  params={"timetable": fs.params},
                  columns={"time_median_min": minutes(fs.median), f"time_p{pct}_min": minutes(fs.pct),
                           "walk_only_min": minutes(fs.walk_only)})


def network(spec: CoverageSpec, graph: RoadGraph, fac_w: gpd.GeoDataFrame, rep_xy: np.ndarray,
            empty: np.ndarray, *, iso_cache: dict | None = None) -> Search:
    """Network coverage: one multi-source Dijkstra from every facility's access points.

    ``iso_cache`` (a dict shared by the scenarios of one run) reuses identical isochrones.
    """
    method, lim = spec.method, spec.within
    graph.check_connected()
    axy, alab = access_points(fac_w.geometry, spec.access_spacing_m)
    main = graph.main_component_edges()
    s_fac = snap_points(graph, axy, mode=method, max_snap_m=spec.max_snap_m, mask=main)
    fac_ok = np.zeros(len(fac_w), bool)
    fac_ok[np.unique(alab[s_fac.ok])] = True
    if not fac_ok.any():
        msg = f"no facility is within {spec.max_snap_m:g} m of a road usable by {method}; cannot route"
        raise CoverageError(msg)
    s_dem = snap_points(graph, np.nan_to_num(rep_xy, nan=0.0), mode=method, max_snap_m=spec.max_snap_m,
                        mask=main)
    s_dem.edge[empty] = -1
    unit = lim.unit
    reach = reach_from_sources(graph, s_fac, alab, mode=method, unit=unit, speed_kmh=spec.speed_kmh,
                               limit=3 * lim.value)
    cost, label = access_costs(graph, reach, s_dem)
    if method == "transit":  # a trip mixes walking and riding: time only
        cost_m, cost_s = np.full(len(cost), np.nan), cost
    else:
        other = "s" if unit == "m" else "m"
        reach2 = reach_from_sources(graph, s_fac, alab, mode=method, unit=other, speed_kmh=spec.speed_kmh)
        cost2, _ = access_costs(graph, reach2, s_dem)
        cost_m, cost_s = (cost, cost2) if unit == "m" else (cost2, cost)
    not_snapped = ~s_dem.ok & ~empty
    comp = graph.components
    fac_comps = set(comp[graph.u[s_fac.edge[s_fac.ok]]])
    dem_comp = np.where(s_dem.ok, comp[graph.u[np.maximum(s_dem.edge, 0)]], -1)
    isolated = s_dem.ok & ~np.isin(dem_comp, list(fac_comps)) & ~empty
    iso = _isochrone(graph, reach, lim.value, spec.offroad_m, iso_cache)
    warnings = []
    if not_snapped.any():
        warnings.append(f"{int(not_snapped.sum())} demand feature(s) farther than {spec.max_snap_m:g} m "
                        f"from a road usable by {method}: flagged 'not snapped'")
    if isolated.any():
        warnings.append(f"{int(isolated.sum())} demand feature(s) sit on network components with no "
                        "facility (disconnected parts of the graph): flagged 'unreachable'")
    return Search(iso=iso, cost_m=cost_m, cost_s=cost_s, label=label, within=within_limit(cost, lim.value),
                  facility_ok=fac_ok, not_snapped=not_snapped, unreachable=isolated,
                  beyond=~np.isfinite(cost),
                  routed=(graph, s_fac, alab, s_dem), warnings=warnings)
