"""A routable road graph from an OSM extract: ways split at the nodes they share.

Intersections are OSM's own topology (a node used by two routable ways, or twice by one),
not geometric crossings, so a bridge over a street is not joined to it. Edges carry the
columns :func:`cityplan.network.graph_from_edges` reads: ``source``/``target`` (OSM node
ids), ``reverse`` (``-1`` one-way in drawing order, ``1`` both ways) and ``class_id`` (the
OSM ``highway`` value, as keyed in the city's ``speeds.yaml``).

Per-mode permissions
--------------------
Every edge also carries three boolean columns, one per travel mode of
:data:`cityplan.network.graph.MODES`, read from the way's OSM access tags:

``walk``
    The way is in osmnx's ``network_type="walk"`` network (:data:`WALK_EXCLUDE`).
``bike``
    The way is in osmnx's ``network_type="bike"`` network (:data:`BIKE_EXCLUDE`), and no
    general ``access=no``/``vehicle=no`` closes it without a ``bicycle`` tag granting it.
``drive``
    The way is in osmnx's ``network_type="drive_service"`` network (:data:`DRIVE_EXCLUDE`),
    and no general ``access=no``/``vehicle=no`` closes it without a ``motor_vehicle`` or
    ``motorcar`` tag granting it.

``False`` means the mode may not travel the edge (the graph gives it no speed for that mode,
so nothing snaps to it or routes over it); a way no mode may use is left out of the table and
counted in :class:`GraphReport`. These are tag rules only: a city's ``speeds.yaml`` may still
forbid whole road classes per mode (``forbidden:``), which the graph applies on top.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import osmium
import shapely

from cityplan.crs import STORAGE_CRS, to_working

logger = logging.getLogger(__name__)

#: the permission columns of the edge table, one per travel mode (same names as the modes)
MODE_COLUMNS = ("walk", "bike", "drive")

#: Ways a mode may not use, as osmnx filters them (``osmnx._overpass._get_network_filter``,
#: osmnx 2.x; before 2.0 ``_get_osm_filter``), with ``settings.default_access`` =
#: ``["access"!~"private"]`` folded in. Each rule ``(key, pattern)`` excludes a way whose tag
#: ``key`` exists and contains a match of the regular expression ``pattern`` - the semantics of
#: Overpass's ``["key"!~"pattern"]``: an unanchored, case-sensitive search, so ``motor`` drops
#: ``motorway`` and ``motorway_link`` and a missing tag never excludes. As in osmnx, a way tagged
#: ``access=private`` is dropped even when ``foot=yes``, and ``access=no`` alone does not close a
#: way to walkers; trunk roads stay walkable unless ``foot=no``. ``sidewalk*=separate`` drops a
#: street whose sidewalks are mapped as ways of their own (those are walked instead).
WALK_EXCLUDE: tuple[tuple[str, str], ...] = (
    ("area", "yes"),
    ("access", "private"),
    ("highway", "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed|"
                "raceway|razed|rest_area|services"),
    ("foot", "no"),
    ("service", "private"),
    ("sidewalk", "separate"),
    ("sidewalk:both", "separate"),
    ("sidewalk:left", "separate"),
    ("sidewalk:right", "separate"),
)
#: osmnx's ``bike`` filter (same semantics as :data:`WALK_EXCLUDE`)
BIKE_EXCLUDE: tuple[tuple[str, str], ...] = (
    ("area", "yes"),
    ("access", "private"),
    ("highway", "abandoned|bus_guideway|construction|corridor|elevator|escalator|footway|motor|no|"
                "planned|platform|proposed|raceway|razed|rest_area|services|steps"),
    ("bicycle", "no"),
    ("service", "private"),
)
#: osmnx's ``drive_service`` filter (``drive`` plus service roads, which cityplan's drive speeds
#: price: homes are reached by them), same semantics as :data:`WALK_EXCLUDE`
DRIVE_EXCLUDE: tuple[tuple[str, str], ...] = (
    ("area", "yes"),
    ("access", "private"),
    ("highway", "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|escalator|"
                "footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|rest_area|"
                "services|steps|track"),
    ("motor_vehicle", "no"),
    ("motorcar", "no"),
    ("service", "emergency_access|parking|parking_aisle|private"),
)
#: Beyond osmnx (whose default access filter matches ``private`` only): for bikes and cars a
#: way closed to everyone (``access=no``) or to all vehicles (``vehicle=no``) is closed too,
#: unless one of the mode's own tags in :data:`VEHICLE_GRANTS` opens it. Exact values.
VEHICLE_CLOSED: tuple[tuple[str, str], ...] = (("access", "no"), ("vehicle", "no"))
#: The tags that open a way to a vehicle mode against :data:`VEHICLE_CLOSED` (exact values).
VEHICLE_GRANTS: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    "bike": (("bicycle", frozenset({"yes", "designated", "permissive"})),),
    "drive": (("motor_vehicle", frozenset({"yes", "designated", "permissive"})),
              ("motorcar", frozenset({"yes", "designated", "permissive"}))),
}
#: the tag-filter rules of each mode, in :data:`MODE_COLUMNS` order
MODE_EXCLUDE: dict[str, tuple[tuple[str, str], ...]] = {"walk": WALK_EXCLUDE, "bike": BIKE_EXCLUDE,
                                                         "drive": DRIVE_EXCLUDE}
#: every tag the rules read (and the one-way tags): what is kept of a way's tags
ACCESS_KEYS = tuple(sorted({k for rules in MODE_EXCLUDE.values() for k, _ in rules}
                           | {k for k, _ in VEHICLE_CLOSED}
                           | {k for grants in VEHICLE_GRANTS.values() for k, _ in grants}
                           | {"highway", "oneway", "junction"}))
_COMPILED = {mode: tuple((k, re.compile(p)) for k, p in rules) for mode, rules in MODE_EXCLUDE.items()}

ONEWAY_YES = frozenset({"yes", "true", "1"})
ONEWAY_REVERSE = frozenset({"-1", "reverse"})
ONEWAY_NO = frozenset({"no", "false", "0", "reversible", "alternating"})
#: one-way unless tagged otherwise (OSM convention)
IMPLIED_ONEWAY_HIGHWAY = frozenset({"motorway"})
IMPLIED_ONEWAY_JUNCTION = frozenset({"roundabout", "circular"})


def excluded_by(tags: Mapping[str, str], mode: str) -> str | None:
    """The tag that closes a way to ``mode`` (``"key=value"``), or ``None`` when the mode may use it.

    Parameters
    ----------
    tags : mapping
        The way's OSM tags (at least those in :data:`ACCESS_KEYS`).
    mode : {"walk", "bike", "drive"}

    Returns
    -------
    str or None
        The first matching rule of :data:`MODE_EXCLUDE` (then :data:`VEHICLE_CLOSED` for bike
        and drive), as ``key=value``.
    """
    if mode not in _COMPILED:
        msg = f"unknown mode {mode!r}; use one of {MODE_COLUMNS}"
        raise ValueError(msg)
    for key, pattern in _COMPILED[mode]:
        value = tags.get(key)
        if value is not None and pattern.search(value):
            return f"{key}={value}"
    grants = VEHICLE_GRANTS.get(mode)
    if grants is not None and not any(tags.get(k) in ok for k, ok in grants):
        for key, closed in VEHICLE_CLOSED:
            if tags.get(key) == closed:
                return f"{key}={closed}"
    return None


def mode_permissions(tags: Mapping[str, str]) -> dict[str, bool]:
    """Whether each mode may use a way with these OSM tags (``{"walk": .., "bike": .., "drive": ..}``)."""
    return {mode: excluded_by(tags, mode) is None for mode in MODE_COLUMNS}


def _skip_reason(tags: Mapping[str, str]) -> str | None:
    """Why no mode may use the way (``None`` when some mode may)."""
    reasons = [r for mode in MODE_COLUMNS if (r := excluded_by(tags, mode)) is not None]
    if len(reasons) < len(MODE_COLUMNS):
        return None
    if tags.get("area") == "yes":
        return "area=yes (a square, not a line)"
    if all(r.startswith("highway=") for r in reasons):
        return f"highway={tags.get('highway')} (not routable)"
    return "; ".join(sorted(set(reasons))) + " (no mode may use it)"


@dataclass
class _Way:
    id: int
    highway: str
    name: str | None
    oneway: int  # 0 both ways, 1 forward, -1 against drawing order
    refs: list[int]
    xy: list[tuple[float, float]]
    allowed: dict[str, bool]  # mode -> may use the way (MODE_COLUMNS)


@dataclass
class GraphReport:
    """How the extract's highway ways became edges (for ``city.json``)."""

    ways_read: int = 0
    ways_used: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> ways
    ways_cut: int = 0  # ways with nodes missing from the extract (split at the gap)
    edges: int = 0
    nodes: int = 0
    oneway_edges: int = 0
    closed: Counter = field(default_factory=Counter)  # "mode: key=value" -> ways used by other modes only

    def as_dict(self) -> dict[str, object]:
        """Plain dict for JSON."""
        return {"highway_ways": self.ways_read, "ways_used": self.ways_used,
                "ways_skipped": dict(sorted(self.skipped.items())), "ways_cut_by_extract": self.ways_cut,
                "edges": self.edges, "nodes": self.nodes, "oneway_edges": self.oneway_edges,
                "ways_closed_to_a_mode": dict(sorted(self.closed.items()))}


def oneway_of(tags: dict[str, str]) -> int:
    """``1`` one-way along the drawing, ``-1`` against it, ``0`` both ways."""
    ow = (tags.get("oneway") or "").strip().lower()
    if ow in ONEWAY_YES:
        return 1
    if ow in ONEWAY_REVERSE:
        return -1
    if ow in ONEWAY_NO:
        return 0
    if tags.get("highway") in IMPLIED_ONEWAY_HIGHWAY or tags.get("junction") in IMPLIED_ONEWAY_JUNCTION:
        return 1
    return 0


class _Collect(osmium.SimpleHandler):
    """Highway ways some mode may use, with node ids, locations and per-mode permissions."""

    def __init__(self, report: GraphReport) -> None:
        super().__init__()
        self.report = report
        self.ways: list[_Way] = []

    def way(self, w: osmium.osm.Way) -> None:  # noqa: D102
        hw = w.tags.get("highway")
        if hw is None:
            return
        self.report.ways_read += 1
        tags = {k: v for k in ACCESS_KEYS if (v := w.tags.get(k)) is not None}
        skip = _skip_reason(tags)
        if skip is not None:
            self.report.skipped[skip] += 1
            return
        refs, xy, runs = [], [], []
        for n in w.nodes:
            if n.location.valid():
                refs.append(n.ref)
                xy.append((n.location.lon, n.location.lat))
            elif refs:  # a node outside the extract: close this run
                runs.append((refs, xy))
                refs, xy = [], []
        runs.append((refs, xy))
        runs = [r for r in runs if len(r[0]) >= 2]
        if len(runs) != 1 or len(runs[0][0]) != len(w.nodes):
            self.report.ways_cut += 1
        if not runs:
            self.report.skipped["fewer than 2 nodes inside the extract"] += 1
            return
        self.report.ways_used += 1
        allowed = {}
        for mode in MODE_COLUMNS:
            why = excluded_by(tags, mode)
            allowed[mode] = why is None
            if why is not None:
                self.report.closed[f"{mode}: {why}"] += 1
        for refs, xy in runs:
            self.ways.append(_Way(w.id, hw, w.tags.get("name"), oneway_of(tags), refs, xy, allowed))


def road_graph_edges(path: str | os.PathLike[str], *, crs: object) -> tuple[gpd.GeoDataFrame, GraphReport]:
    """Edges of the routable graph of an OSM extract.

    Parameters
    ----------
    path : path-like
        ``.osm.pbf`` (or ``.osm``) extract.
    crs : CRS-like
        Metric working CRS in which ``length`` is measured (as the graph builder measures).

    Returns
    -------
    (GeoDataFrame, GraphReport)
        Edges in EPSG:4326 with ``gid, osm_id, class_id, highway, name, source, target,
        length, reverse, walk, bike, drive`` (the last three: boolean permissions, see the
        module docstring) and how the ways were used.
    """
    report = GraphReport()
    handler = _Collect(report)
    handler.apply_file(str(path), locations=True)
    uses: Counter = Counter()
    for w in handler.ways:
        uses.update(w.refs)
        uses[w.refs[0]] += 1  # way ends are always nodes of the graph
        uses[w.refs[-1]] += 1
    rows: dict[str, list] = {k: [] for k in ("osm_id", "class_id", "highway", "name", "source", "target",
                                             "reverse", *MODE_COLUMNS, "geometry")}
    for w in handler.ways:
        refs, xy = w.refs, w.xy
        if w.oneway == -1:  # draw one-way edges in their travel direction
            refs, xy = refs[::-1], xy[::-1]
        start = 0
        for i in range(1, len(refs)):
            if uses[refs[i]] > 1 or i == len(refs) - 1:
                piece = xy[start:i + 1]
                if len(piece) >= 2:
                    rows["osm_id"].append(w.id)
                    rows["class_id"].append(w.highway)
                    rows["highway"].append(w.highway)
                    rows["name"].append(w.name)
                    rows["source"].append(refs[start])
                    rows["target"].append(refs[i])
                    rows["reverse"].append(-1 if w.oneway else 1)
                    for mode in MODE_COLUMNS:
                        rows[mode].append(w.allowed[mode])
                    rows["geometry"].append(shapely.LineString(piece))
                start = i
    edges = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)
    edges["source"] = edges["source"].astype(np.int64)
    edges["target"] = edges["target"].astype(np.int64)
    edges["reverse"] = edges["reverse"].astype(np.int64)
    for mode in MODE_COLUMNS:
        edges[mode] = edges[mode].astype(bool)
    edges.insert(0, "gid", np.arange(1, len(edges) + 1, dtype=np.int64))
    edges["length"] = to_working(edges, crs).length.round(3).to_numpy() if len(edges) else []
    report.edges = len(edges)
    report.nodes = len(np.unique(np.concatenate([edges["source"], edges["target"]]))) if len(edges) else 0
    report.oneway_edges = int((edges["reverse"] == -1).sum())
    logger.info("road graph: %d edges, %d nodes from %d ways (not walkable: %d edges)", report.edges,
                report.nodes, report.ways_used, int((~edges["walk"]).sum()) if len(edges) else 0)
    return edges[["gid", "osm_id", "class_id", "highway", "name", "source", "target", "length", "reverse",
                  *MODE_COLUMNS, "geometry"]], report
