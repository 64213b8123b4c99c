"""The walking network honours OSM access rules as osmnx's ``network_type="walk"`` does.

(a) The tag rules of :mod:`cityplan.city.roadgraph`, case by case and against osmnx's own
Overpass filter strings evaluated by an independent reader here; (b) on the synthetic city
abroad, walking distances from cityplan's search equal networkx Dijkstra on a graph built here
straight from the ``.osm.pbf`` with osmnx's walk filter, and differ when access tags are ignored.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer

import synthetic_abroad as ab
from cityplan.city.catalog import city_catalog
from cityplan.city.roadgraph import MODE_COLUMNS, mode_permissions, road_graph_edges
from cityplan.errors import SchemaError
from cityplan.network.graph import (
    RoadGraph,
    allowed_column,
    graph_from_arrays,
    graph_from_edges,
    graph_to_arrays,
)
from cityplan.network.search import reach_from_sources
from cityplan.network.snap import snap_points

pytestmark = pytest.mark.unit

#: osmnx 2.x ``_get_network_filter`` strings with ``settings.default_access`` folded in (the
#: independent oracle: read by :func:`overpass_allows` below, not by cityplan)
OSMNX_WALK = ('["highway"]["area"!~"yes"]["access"!~"private"]'
              '["highway"!~"abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|'
              'proposed|raceway|razed|rest_area|services"]'
              '["foot"!~"no"]["service"!~"private"]'
              '["sidewalk"!~"separate"]["sidewalk:both"!~"separate"]'
              '["sidewalk:left"!~"separate"]["sidewalk:right"!~"separate"]')
OSMNX_BIKE = ('["highway"]["area"!~"yes"]["access"!~"private"]'
              '["highway"!~"abandoned|bus_guideway|construction|corridor|elevator|escalator|footway|'
              'motor|no|planned|platform|proposed|raceway|razed|rest_area|services|steps"]'
              '["bicycle"!~"no"]["service"!~"private"]')
OSMNX_DRIVE_SERVICE = ('["highway"]["area"!~"yes"]["access"!~"private"]'
                       '["highway"!~"abandoned|bridleway|bus_guideway|construction|corridor|cycleway|'
                       'elevator|escalator|footway|no|path|pedestrian|planned|platform|proposed|raceway|'
                       'razed|rest_area|services|steps|track"]'
                       '["motor_vehicle"!~"no"]["motorcar"!~"no"]'
                       '["service"!~"emergency_access|parking|parking_aisle|private"]')
_CLAUSE = re.compile(r'\["([^"]+)"(?:(!~|~|!=|=)"([^"]*)")?\]')
SPEEDS = {"walk": {"default_kmh": 4.5}, "bike": {"default_kmh": 12.0}, "drive": {"default_kmh": 30.0}}


def overpass_allows(osm_filter: str, tags: Mapping[str, str]) -> bool:
    """Whether a way with ``tags`` passes an Overpass QL tag filter (``[k]``, ``[k!~re]``, ``[k~re]``...)."""
    for key, op, value in _CLAUSE.findall(osm_filter):
        have = tags.get(key)
        if not op:
            ok = have is not None
        elif op == "=":
            ok = have == value
        elif op == "!=":
            ok = have != value
        elif have is None:
            ok = op == "!~"
        else:
            ok = (re.search(value, have) is not None) == (op == "~")
        if not ok:
            return False
    return True


# ------------------------------------------------------------------ (a) the tag rules
CASES = [  # tags, (walk, bike, drive), why
    ({"highway": "residential"}, (True, True, True), "a plain street"),
    ({"highway": "residential", "access": "private"}, (False, False, False), "private"),
    ({"highway": "residential", "access": "private", "foot": "yes"}, (False, False, False),
     "osmnx: foot=yes does not override access=private"),
    ({"highway": "residential", "access": "no"}, (True, False, False),
     "osmnx's default access filter matches private only; vehicles: access=no closes"),
    ({"highway": "residential", "access": "no", "bicycle": "yes"}, (True, True, False), "bicycle=yes opens"),
    ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, (True, False, True), "motor_vehicle opens"),
    ({"highway": "residential", "vehicle": "no"}, (True, False, False), "vehicle=no"),
    ({"highway": "residential", "access": "destination"}, (True, True, True), "destination is public"),
    ({"highway": "residential", "foot": "no"}, (False, True, True), "foot=no"),
    ({"highway": "residential", "bicycle": "no"}, (True, False, True), "bicycle=no"),
    ({"highway": "residential", "motor_vehicle": "no"}, (True, True, False), "motor_vehicle=no"),
    ({"highway": "residential", "motorcar": "no"}, (True, True, False), "motorcar=no"),
    ({"highway": "residential", "sidewalk": "separate"}, (False, True, True), "sidewalks drawn apart"),
    ({"highway": "residential", "sidewalk:both": "separate"}, (False, True, True), "sidewalks drawn apart"),
    ({"highway": "residential", "sidewalk:left": "separate"}, (False, True, True), "sidewalks drawn apart"),
    ({"highway": "residential", "sidewalk:right": "separate"}, (False, True, True), "sidewalks drawn apart"),
    ({"highway": "residential", "sidewalk": "both"}, (True, True, True), "sidewalks on the street"),
    ({"highway": "trunk"}, (True, True, True), "osmnx walks trunk roads"),
    ({"highway": "trunk", "foot": "no"}, (False, True, True), "unless foot=no"),
    ({"highway": "motorway"}, (False, False, True), "'motor' matches motorway"),
    ({"highway": "motorway_link"}, (False, False, True), "and motorway_link"),
    ({"highway": "motorway", "foot": "yes"}, (False, False, True), "osmnx ignores foot=yes there"),
    ({"highway": "cycleway"}, (False, True, False), "osmnx: no walking on cycleways"),
    ({"highway": "cycleway", "foot": "designated"}, (False, True, False), "even shared ones"),
    ({"highway": "footway"}, (True, False, False), "a footway"),
    ({"highway": "pedestrian"}, (True, True, False), "a pedestrian street"),
    ({"highway": "path"}, (True, True, False), "a path"),
    ({"highway": "steps"}, (True, False, False), "steps"),
    ({"highway": "track"}, (True, True, False), "a track"),
    ({"highway": "bridleway"}, (True, True, False), "a bridleway"),
    ({"highway": "corridor"}, (True, False, False), "a corridor"),
    ({"highway": "service"}, (True, True, True), "a service road"),
    ({"highway": "service", "service": "private"}, (False, False, False), "service=private"),
    ({"highway": "service", "service": "parking_aisle"}, (True, True, False), "parking aisle"),
    ({"highway": "service", "service": "driveway"}, (True, True, True), "driveways (drive_service)"),
    ({"highway": "service", "service": "emergency_access"}, (True, True, False), "emergency access"),
    ({"highway": "pedestrian", "area": "yes"}, (False, False, False), "a square"),
    ({"highway": "living_street"}, (True, True, True), "a living street"),
    *[({"highway": hw}, (False, False, False), f"{hw}: not in use")
      for hw in ("abandoned", "bus_guideway", "construction", "no", "planned", "platform", "proposed",
                 "raceway", "razed", "rest_area", "services")],
]


@pytest.mark.parametrize(("tags", "expected", "why"), CASES, ids=[c[2] + " " + str(c[0]) for c in CASES])
def test_tag_rules(tags: dict[str, str], expected: tuple[bool, bool, bool], why: str) -> None:
    got = mode_permissions(tags)
    assert tuple(got[m] for m in MODE_COLUMNS) == expected, why


def _tag_grid() -> list[dict[str, str]]:
    """Every combination of a few values of each tag the rules read (``None`` = tag absent)."""
    values: dict[str, list[str | None]] = {
        "highway": ["residential", "trunk", "motorway", "motorway_link", "cycleway", "footway", "path", "steps",
                    "pedestrian", "service", "track", "construction", "platform", "elevator", "bus_stop"],
        "access": [None, "private", "no", "yes", "destination", "customers;private"],
        "foot": [None, "no", "yes"],
        "bicycle": [None, "no", "yes"],
        "motor_vehicle": [None, "no"],
        "service": [None, "private", "parking_aisle", "alley"],
        "area": [None, "yes"],
        "sidewalk": [None, "separate", "both"],
    }
    keys = list(values)
    return [{k: v for k, v in zip(keys, combo, strict=True) if v is not None}
            for combo in itertools.product(*values.values())]


def test_walk_rule_is_osmnx_walk_filter() -> None:
    grid = _tag_grid()
    assert len(grid) > 10_000
    diff = [t for t in grid if mode_permissions(t)["walk"] != overpass_allows(OSMNX_WALK, t)]
    assert diff == []


@pytest.mark.parametrize(("mode", "osmnx_filter", "own_tags"),
                         [("bike", OSMNX_BIKE, ("bicycle",)), ("drive", OSMNX_DRIVE_SERVICE, ("motor_vehicle",))])
def test_vehicle_rules_are_osmnx_filters_plus_access_no(mode: str, osmnx_filter: str,
                                                        own_tags: tuple[str, ...]) -> None:
    """Bike = osmnx ``bike``, drive = osmnx ``drive_service``; beyond osmnx only ``access=no``
    closes a way to the vehicle, unless the mode's own tag grants it."""
    for t in _tag_grid():
        ours, theirs = mode_permissions(t)[mode], overpass_allows(osmnx_filter, t)
        closed = t.get("access") == "no" and not any(t.get(k) == "yes" for k in own_tags)
        assert ours == (theirs and not closed), t


def test_allowed_column_reads_booleans_numbers_text_and_nulls() -> None:
    s = pd.Series([True, False, None, 1, 0, "yes", "no", "TRUE", " false ", np.nan], dtype=object)
    assert allowed_column(s, column="walk").tolist() == [True, False, True, True, False, True, False, True,
                                                         False, True]
    assert allowed_column(pd.Series([1.0, 0.0, np.nan]), column="walk").tolist() == [True, False, True]
    with pytest.raises(SchemaError, match="column 'walk' holds 'maybe'"):
        allowed_column(pd.Series(["yes", "maybe"]), column="walk")


# ------------------------------------------------------------------ (b) the synthetic city abroad
@pytest.fixture(scope="module")
def osm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ab.write_osm(tmp_path_factory.mktemp("walk-access") / "abroad.osm.pbf")


@pytest.fixture(scope="module")
def edges(osm: Path) -> gpd.GeoDataFrame:
    e, _ = road_graph_edges(osm, crs=ab.WORKING_CRS)
    return e


@pytest.fixture(scope="module")
def graph(edges: gpd.GeoDataFrame) -> RoadGraph:
    return graph_from_edges(edges, crs=ab.WORKING_CRS, speeds=SPEEDS)


class _Ways(osmium.SimpleHandler):
    """Every highway way: its tags and node (id, lon, lat) list - read here, not by cityplan."""

    def __init__(self) -> None:
        super().__init__()
        self.ways: list[tuple[dict[str, str], list[tuple[int, float, float]]]] = []

    def way(self, w: osmium.osm.Way) -> None:  # noqa: D102
        if "highway" in w.tags:
            self.ways.append(({t.k: t.v for t in w.tags},
                              [(n.ref, n.location.lon, n.location.lat) for n in w.nodes]))


def nx_walk_graph(osm: Path, keep: Callable[[Mapping[str, str]], bool]) -> nx.Graph:
    """Undirected graph of OSM nodes (walking ignores one-way) with segment lengths in UTM 23S."""
    h = _Ways()
    h.apply_file(str(osm), locations=True)
    to_utm = Transformer.from_crs("EPSG:4326", ab.WORKING_CRS, always_xy=True)
    g = nx.Graph()
    for tags, nodes in h.ways:
        if not keep(tags):
            continue
        ids = [n[0] for n in nodes]
        x, y = to_utm.transform([n[1] for n in nodes], [n[2] for n in nodes])
        for k in range(len(ids) - 1):
            w = float(np.hypot(x[k + 1] - x[k], y[k + 1] - y[k]))
            if not g.has_edge(ids[k], ids[k + 1]) or g.edges[ids[k], ids[k + 1]]["weight"] > w:
                g.add_edge(ids[k], ids[k + 1], weight=w)
    return g


def _node_ids(edges: gpd.GeoDataFrame) -> np.ndarray:
    """OSM id of each graph node (graph_from_edges numbers the sorted distinct ids)."""
    return np.unique(np.concatenate([edges["source"].to_numpy(), edges["target"].to_numpy()]))


SOURCES = [(0, 200), (0, 400), (800, 200), (600, 800), (1200, 0)]  # local metres, grid nodes


def _node_at(graph: RoadGraph, x: float, y: float) -> int:
    d = np.hypot(graph.node_xy[:, 0] - ab.ORIGIN[0] - x, graph.node_xy[:, 1] - ab.ORIGIN[1] - y)
    assert d.min() < 0.05
    return int(d.argmin())


def cityplan_walk_distances(graph: RoadGraph) -> dict[int, np.ndarray]:
    """Walking metres from each source node to every graph node, by cityplan's search."""
    out = {}
    for x, y in SOURCES:
        i = _node_at(graph, x, y)
        snap = snap_points(graph, graph.node_xy[[i]], mode="walk", max_snap_m=1.0)
        assert snap.ok.all() and snap.dist[0] < 1e-6
        reach = reach_from_sources(graph, snap, np.array([0]), mode="walk", unit="m")
        out[i] = reach.cost
    return out


def _compare(graph: RoadGraph, ids: np.ndarray, ours: dict[int, np.ndarray], g: nx.Graph) -> float:
    """Largest |cityplan - networkx| over all (source, node) pairs; inf when reachability differs."""
    worst = 0.0
    for i, cost in ours.items():
        ref = nx.single_source_dijkstra_path_length(g, int(ids[i]), weight="weight") if ids[i] in g else {}
        want = np.array([ref.get(int(n), np.inf) for n in ids])
        if not np.array_equal(np.isfinite(cost), np.isfinite(want)):
            return np.inf
        fin = np.isfinite(want)
        worst = max(worst, float(np.abs(cost[fin] - want[fin]).max()))
    return worst


def test_edge_table_of_the_synthetic_city(osm: Path) -> None:
    e, report = road_graph_edges(osm, crs=ab.WORKING_CRS)
    assert len(e) == ab.EXPECTED_EDGES and report.nodes == ab.EXPECTED_NODES
    assert int((e["reverse"] == -1).sum()) == ab.EXPECTED_ONEWAY
    assert dict(report.skipped) == ab.EXPECTED_SKIPPED
    assert int((~e["walk"]).sum()) == ab.EXPECTED_NOT_WALKABLE
    closed = e.loc[~e["walk"]].groupby("class_id").size().to_dict()
    assert closed == {"trunk": 6, "cycleway": 1, "motorway": 2, "motorway_link": 1}
    assert e.loc[e["class_id"] == "trunk", "walk"].sum() == 4  # Avenida Central: a trunk without foot=no
    assert e.loc[e["class_id"] == "cycleway", ["walk", "bike", "drive"]].values.tolist() == [[False, True, False]]
    assert not e["name"].eq("Rua Particular").any()  # access=private: no mode, left out


def test_walk_distances_equal_networkx_on_the_osmnx_walk_network(osm: Path, edges: gpd.GeoDataFrame,
                                                                  graph: RoadGraph) -> None:
    ids = _node_ids(edges)
    to_utm = Transformer.from_crs("EPSG:4326", ab.WORKING_CRS, always_xy=True)
    ends = shapely.get_coordinates(shapely.get_point(edges.geometry.values, 0))
    src_idx = np.searchsorted(ids, edges["source"].to_numpy())
    assert np.allclose(graph.node_xy[src_idx], np.column_stack(to_utm.transform(ends[:, 0], ends[:, 1])),
                       atol=0.01)  # node numbering as assumed
    ours = cityplan_walk_distances(graph)
    ref = nx_walk_graph(osm, lambda t: overpass_allows(OSMNX_WALK, t))
    assert _compare(graph, ids, ours, ref) < 0.5
    # the motorway's own nodes: no walker reaches them
    assert all(np.isinf(c[_node_at(graph, ab.VIADUCT_X, 900)]) for c in ours.values())
    # the foot=no trunk y = 400 is not walked along: not 1200 m but up to y = 600, east, and down
    # the parking aisle (walkable, not drivable)
    c = ours[_node_at(graph, 0, 400)]
    assert c[_node_at(graph, 1200, 400)] == pytest.approx(200 + 1000 + 200 * np.sqrt(2), abs=0.5)


def test_ignoring_access_tags_gives_other_distances(osm: Path, edges: gpd.GeoDataFrame, graph: RoadGraph) -> None:
    ids = _node_ids(edges)
    ours = cityplan_walk_distances(graph)
    # the network as if access tags were not there: every highway way but squares and non-roads
    def any_road(t: Mapping[str, str]) -> bool:
        return t.get("area") != "yes" and t["highway"] not in {"construction", "proposed", "platform"}

    assert _compare(graph, ids, ours, nx_walk_graph(osm, any_road)) > 50
    # and cityplan's graph without the permission columns is not the osmnx walk network
    bare = graph_from_edges(edges.drop(columns=list(MODE_COLUMNS)), crs=ab.WORKING_CRS, speeds=SPEEDS)
    assert bare.allowed == {} and bare.usable("walk").all()
    ref = nx_walk_graph(osm, lambda t: overpass_allows(OSMNX_WALK, t))
    assert _compare(bare, ids, cityplan_walk_distances(bare), ref) > 50


def test_walk_snapping_skips_edges_walkers_may_not_use(graph: RoadGraph, edges: gpd.GeoDataFrame) -> None:
    x0, y0 = ab.ORIGIN
    pts = np.array([[x0 + 70, y0 + 405],    # 5 m from the foot=no trunk, 70 m from Rua 0
                    [x0 + 900, y0 + 100],   # on the cycleway
                    [x0 + 752, y0 + 500]])  # 2 m from the viaduct
    walk = snap_points(graph, pts, mode="walk", max_snap_m=500)
    drive = snap_points(graph, pts, mode="drive", max_snap_m=500)
    assert walk.ok.all() and graph.usable("walk")[walk.edge].all()
    names = edges["name"].to_numpy()
    assert names[walk.edge[0]] == "Rua 0" and walk.dist[0] == pytest.approx(70.0, abs=0.01)
    assert names[drive.edge[0]] == "Via Expressa" and drive.dist[0] == pytest.approx(5.0, abs=0.01)
    assert names[walk.edge[1]] != "Ciclovia" and walk.dist[1] > 50
    assert names[snap_points(graph, pts[1:2], mode="bike", max_snap_m=500).edge[0]] == "Ciclovia"
    assert names[drive.edge[2]] == "Elevado Norte-Sul" and names[walk.edge[2]] != "Elevado Norte-Sul"


def test_speeds_forbidden_classes_still_apply_on_top(edges: gpd.GeoDataFrame) -> None:
    speeds = {**SPEEDS, "walk": {"default_kmh": 4.5, "forbidden": ["trunk"]}}
    g = graph_from_edges(edges, crs=ab.WORKING_CRS, speeds=speeds)
    trunk = edges["class_id"].to_numpy() == "trunk"
    assert not g.usable("walk")[trunk].any()  # Avenida Central too, now
    assert g.usable("walk")[~trunk].sum() == edges["walk"].to_numpy()[~trunk].sum()


def test_permissions_survive_the_geopackage_and_the_array_cache(tmp_path: Path, edges: gpd.GeoDataFrame,
                                                                graph: RoadGraph) -> None:
    gpkg = tmp_path / "osm_layers.gpkg"
    pyogrio.write_dataframe(edges, gpkg, layer="road_graph")
    back = pyogrio.read_dataframe(gpkg, layer="road_graph")
    again = graph_from_edges(back, crs=ab.WORKING_CRS, speeds=SPEEDS)
    for mode in MODE_COLUMNS:
        np.testing.assert_array_equal(again.usable(mode), graph.usable(mode))
    cached = graph_from_arrays(graph_to_arrays(graph))
    cached.speeds = SPEEDS
    assert set(cached.allowed) == set(MODE_COLUMNS)
    for mode in MODE_COLUMNS:
        np.testing.assert_array_equal(cached.usable(mode), graph.usable(mode))
    # `city new` writes every column of the edge table: the catalog keeps them (no keep_columns)
    cat = city_catalog("x", bbox=(0, 0, 1, 1), working_crs=ab.WORKING_CRS, osm_file="a.osm.pbf",
                       districts_file="d.geojson", census_file=None, counts={})
    entry = next(la for la in cat["layers"] if la["id"] == "road_graph")
    assert "keep_columns" not in entry
