"""A routable road graph from an OSM extract: ways split at the nodes they share.

Intersections are OSM's own topology (a node used by two routable ways, or twice by one),
not geometric crossings, so a bridge over a street is not joined to it. Edges carry the
columns :func:`cityplan.network.graph_from_edges` reads: ``source``/``target`` (OSM node
ids), ``reverse`` (``-1`` one-way in drawing order, ``1`` both ways) and ``class_id`` (the
OSM ``highway`` value, as keyed in ``layers/speeds.yaml``).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import osmium
import shapely

from cityplan.crs import STORAGE_CRS, to_working

logger = logging.getLogger(__name__)

#: ``highway`` values that are not travelled (plans, platforms, areas of service stations)
NOT_ROUTABLE = frozenset({"proposed", "construction", "abandoned", "disused", "razed", "platform",
                          "raceway", "bus_stop", "services", "rest_area", "elevator", "emergency_bay"})
ONEWAY_YES = frozenset({"yes", "true", "1"})
ONEWAY_REVERSE = frozenset({"-1", "reverse"})
ONEWAY_NO = frozenset({"no", "false", "0", "reversible", "alternating"})
#: one-way unless tagged otherwise (OSM convention)
IMPLIED_ONEWAY_HIGHWAY = frozenset({"motorway"})
IMPLIED_ONEWAY_JUNCTION = frozenset({"roundabout", "circular"})


@dataclass
class _Way:
    id: int
    highway: str
    name: str | None
    oneway: int  # 0 both ways, 1 forward, -1 against drawing order
    refs: list[int]
    xy: list[tuple[float, float]]


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

    def as_dict(self) -> dict[str, object]:
        """Plain dict for JSON."""
        return {"highway_ways": self.ways_read, "ways_used": self.ways_used,
                "ways_skipped": dict(sorted(self.skipped.items())), "ways_cut_by_extract": self.ways_cut,
                "edges": self.edges, "nodes": self.nodes, "oneway_edges": self.oneway_edges}


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
    """Routable highway ways with node ids and locations."""

    def __init__(self, report: GraphReport) -> None:
        super().__init__()
        self.report = report
        self.ways: list[_Way] = []

    def way(self, w: osmium.osm.Way) -> None:  # noqa: D102
        hw = w.tags.get("highway")
        if hw is None:
            return
        self.report.ways_read += 1
        if hw in NOT_ROUTABLE:
            self.report.skipped[f"highway={hw} (not routable)"] += 1
            return
        if w.tags.get("area") == "yes":
            self.report.skipped["area=yes (a square, not a line)"] += 1
            return
        tags = {k: w.tags.get(k) for k in ("highway", "oneway", "junction")}
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
        for refs, xy in runs:
            self.ways.append(_Way(w.id, hw, w.tags.get("name"), oneway_of(tags), refs, xy))


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
        length, reverse`` and how the ways were used.
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
                                             "reverse", "geometry")}
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
                    rows["geometry"].append(shapely.LineString(piece))
                start = i
    edges = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)
    edges["source"] = edges["source"].astype(np.int64)
    edges["target"] = edges["target"].astype(np.int64)
    edges["reverse"] = edges["reverse"].astype(np.int64)
    edges.insert(0, "gid", np.arange(1, len(edges) + 1, dtype=np.int64))
    edges["length"] = to_working(edges, crs).length.round(3).to_numpy() if len(edges) else []
    report.edges = len(edges)
    report.nodes = len(np.unique(np.concatenate([edges["source"], edges["target"]]))) if len(edges) else 0
    report.oneway_edges = int((edges["reverse"] == -1).sum())
    logger.info("road graph: %d edges, %d nodes from %d ways", report.edges, report.nodes, report.ways_used)
    return edges[["gid", "osm_id", "class_id", "highway", "name", "source", "target", "length", "reverse",
                  "geometry"]], report
