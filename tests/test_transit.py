"""Transit coverage (walk network + metro): a hand-computed case, networkx on the Harbin graph,
the counterfactual without a section, and bad options."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from cityplan.coverage import run_coverage
from cityplan.coverage import search as strategies
from cityplan.coverage.inputs import walk_graph
from cityplan.coverage.spec import make_spec
from cityplan.errors import CoverageError
from cityplan.network import graph_from_lines, snap_points
from cityplan.network.graph import load_speeds
from cityplan.network.search import WALK_ACCESS_MS
from cityplan.network.transit import build_transit_graph, planned_sections
from cityplan.onemap import OneMap
from cli_invoke import run
from conftest import HARBIN

CRS = 4551
CONFIG = {
    "speed_kmh": 36.0, "access_min": 2.0, "egress_min": 1.0, "transfer_min": 3.0, "max_station_snap_m": 300.0,
    "line_column": "line", "source": "test",
    "lines": {"a": {"match": "A", "sequence": "seq_a", "headway_min": 6.0, "loop": False},
              "b": {"match": "B", "sequence": "seq_b", "headway_min": 10.0, "loop": False}},
    "sections": {"b-north": {"line": "b", "flag": "north", "title": "", "planned": True}},
}


def _tiny():
    """Streets: y=0 from x=0 to 10 km, then up x=10 km to y=4 km and back west to x=5 km.
    Line A along y=50 (stations A1 x=1 km, M x=5 km, A2 x=9 km); line B along x=5 km
    (stations M and C at y=4050)."""
    streets = gpd.GeoDataFrame({"highway": ["residential"] * 6}, geometry=[
        LineString([(0, 0), (1000, 0)]), LineString([(1000, 0), (5000, 0)]), LineString([(5000, 0), (9000, 0)]),
        LineString([(9000, 0), (10000, 0)]), LineString([(10000, 0), (10000, 4000)]),
        LineString([(10000, 4000), (5000, 4000)])], crs=CRS)
    walk = graph_from_lines(streets, crs=CRS, speeds=load_speeds(HARBIN))
    lines = gpd.GeoDataFrame({"line": ["A", "B"]}, geometry=[
        LineString([(1000, 50), (9000, 50)]), LineString([(5000, -4000), (5000, 4050)])], crs=CRS)
    stations = gpd.GeoDataFrame({
        "name": ["A1", "M", "A2", "C"], "seq_a": [1, 2, 3, np.nan], "seq_b": [np.nan, 1, np.nan, 2],
        "north": [False, False, False, True]},
        geometry=[Point(1000, 50), Point(5000, 50), Point(9000, 50), Point(5000, 4050)], crs=CRS)
    return walk, lines, stations


def _cost(graph, fac_xy, dem_xy) -> np.ndarray:
    spec = make_spec(facilities=["x"], method="transit", within="120min")
    fac = gpd.GeoDataFrame(geometry=[Point(*p) for p in fac_xy], crs=CRS)
    found = strategies.network(spec, graph, fac, np.asarray(dem_xy, float), np.zeros(len(dem_xy), bool))
    return found.cost_s


def test_hand_computed_trip_with_a_transfer():
    walk, lines, stations = _tiny()
    g = build_transit_graph(walk, lines, stations, CONFIG, walk_kmh=4.5)
    v = 4.5 / 3.6
    # home 20 m off the street at x=1 km; station A1 50 m off it; facility 20 m from C's street, C 50 m off it
    walk_s = (20 + 50 + 50 + 20) / v
    ride = 4000 / 10.0  # 4 km at 36 km/h, twice
    expected = walk_s + (120 + 180) + ride + (180 + 300) + ride + 60
    cost = _cost(g, [(5000, 4020)], [(1000, 20)])
    assert cost[0] == pytest.approx(expected, abs=0.5)
    # brute force: every simple path of the combined graph between the home's and the facility's street nodes
    m = g.matrix("transit", "s").tocoo()
    dg = nx.DiGraph()
    dg.add_weighted_edges_from(zip(m.row.tolist(), m.col.tolist(), m.data.tolist(), strict=True))
    xy = g.node_xy
    home = int(np.argmin(np.hypot(xy[:, 0] - 1000, xy[:, 1])))
    far = int(np.argmin(np.hypot(xy[:, 0] - 5000, xy[:, 1] - 4000)))
    best = min(sum(dg[a][b]["weight"] for a, b in zip(p, p[1:], strict=False))
               for p in nx.all_simple_paths(dg, home, far))
    assert best + (20 + 20) / v == pytest.approx(expected, abs=0.5)
    # the same trip on foot only: 9 km + 4 km + 5 km of streets
    assert walk_s < expected < 18000 / v


def test_without_a_section_breaks_the_line():
    walk, lines, stations = _tiny()
    full = build_transit_graph(walk, lines, stations, CONFIG, walk_kmh=4.5)
    cut = build_transit_graph(walk, lines, stations, CONFIG, walk_kmh=4.5, without=("b-north",))
    assert planned_sections(CONFIG) == ("b-north",)
    def rides_on_b(g):
        e, b = g.edge_table(), set(g.platforms.loc[g.platforms["line"] == "b", "node"])
        return int(((e["kind"] == "ride") & e["from"].isin(b)).sum())

    assert rides_on_b(full) == 2 and rides_on_b(cut) == 0
    assert (full.edge_table()["kind"] == "transfer").sum() == 2
    c_full = _cost(full, [(5000, 4020)], [(1000, 20)])[0]
    c_cut = _cost(cut, [(5000, 4020)], [(1000, 20)])[0]
    # without the section: ride A to its end (8 km), walk 1 km + 4 km + 5 km to the facility
    v = 4.5 / 3.6
    alt_ride = (20 + 50) / v + 120 + 180 + 800 + 60 + (50 + 1000 + 4000 + 5000 + 20) / v
    assert c_cut == pytest.approx(min(alt_ride, (20 + 9000 + 4000 + 5000 + 20) / v), abs=0.5)
    assert c_cut > c_full
    with pytest.raises(CoverageError, match="not a line or section|no route with that id"):
        build_transit_graph(walk, lines, stations, CONFIG, without=("zz",))


@pytest.fixture(scope="module")
def harbin(onemap):
    om = OneMap.coerce(onemap)
    cfg = load_speeds(HARBIN)["transit"]
    walk, _, _ = walk_graph(om)
    lines, stations = om.layer_for("metro_lines"), om.layer_for("metro_stations")
    g = build_transit_graph(walk, lines, stations, cfg, walk_kmh=3.6, crs=om.working_crs)
    return om, g, cfg


def _networkx_costs(g, fac_xy, dem_xy, max_snap=300.0):
    """Nearest-facility cost per home by networkx on the combined graph built from its parts."""
    walk = g.walk
    v = walk.speed_ms("walk", g.walk_kmh)
    dg = nx.DiGraph()

    def add(a, b, w):
        if not dg.has_edge(a, b) or dg[a][b]["weight"] > w:
            dg.add_edge(a, b, weight=w)

    for a, b, length, sp in zip(walk.u.tolist(), walk.v.tolist(), walk.length.tolist(), v.tolist(), strict=True):
        if np.isfinite(sp):
            add(b, a, length / sp)  # reversed graph: towards the facilities
            add(a, b, length / sp)
    for a, b, w in zip(g.t_from.tolist(), g.t_to.tolist(), g.t_cost.tolist(), strict=True):
        add(b, a, w)
    main = walk.main_component_edges()
    sf = snap_points(walk, np.asarray(fac_xy), mode="walk", max_snap_m=max_snap, mask=main)
    for j in np.flatnonzero(sf.ok):
        e, t, d = sf.edge[j], sf.offset[j], sf.dist[j]
        add("S", int(walk.u[e]), t / v[e] + d / WALK_ACCESS_MS)
        add("S", int(walk.v[e]), (walk.length[e] - t) / v[e] + d / WALK_ACCESS_MS)
    dist = nx.single_source_dijkstra_path_length(dg, "S")
    sd = snap_points(walk, np.asarray(dem_xy), mode="walk", max_snap_m=max_snap, mask=main)
    out = np.full(len(dem_xy), np.inf)
    for i in np.flatnonzero(sd.ok):
        e, t, d = sd.edge[i], sd.offset[i], sd.dist[i]
        out[i] = d / WALK_ACCESS_MS + min(t / v[e] + dist.get(int(walk.u[e]), np.inf),
                                          (walk.length[e] - t) / v[e] + dist.get(int(walk.v[e]), np.inf))
    return out, sd, sf


def test_harbin_transit_costs_equal_networkx(harbin):
    om, g, _ = harbin
    dem = om.layer("residential").to_crs(om.working_crs)
    dem_xy = np.column_stack([dem.representative_point().x, dem.representative_point().y])
    fac = om.layer("ice_sports").to_crs(om.working_crs)
    fac_xy = np.column_stack([fac.geometry.x, fac.geometry.y])
    spec = make_spec(facilities=["ice_sports"], method="transit", within="30min", speed_kmh=3.6)
    found = strategies.network(spec, g, gpd.GeoDataFrame(geometry=fac.geometry.to_numpy(), crs=om.working_crs),
                               dem_xy, np.zeros(len(dem_xy), bool))
    expected, sd, sf = _networkx_costs(g, fac_xy, dem_xy)
    # homes on the edge of a facility are reached along it directly; compare all others
    other = ~np.isin(sd.edge, sf.edge[sf.ok]) & sd.ok
    ours = found.cost_s[other]
    ref = expected[other]
    within = ref <= 3 * 1800  # the search stops at 3x the limit
    assert within.sum() > 500
    np.testing.assert_allclose(ours[within], ref[within], atol=1.0)
    assert (~np.isfinite(ours[~within])).all()
    # the metro matters: some homes are reached faster than on foot alone
    walk_only = strategies.network(make_spec(facilities=["ice_sports"], method="walk", within="30min", speed_kmh=3.6),
                                   g.walk, gpd.GeoDataFrame(geometry=fac.geometry.to_numpy(), crs=om.working_crs),
                                   dem_xy, np.zeros(len(dem_xy), bool)).cost_s
    both = np.isfinite(found.cost_s) & np.isfinite(walk_only)
    assert (found.cost_s[both] <= walk_only[both] + 1e-6).all() and (found.cost_s[both] < walk_only[both] - 60).any()


def test_in_vehicle_times_follow_the_line_geometry(harbin):
    om, g, cfg = harbin
    lines = om.layer_for("metro_lines").to_crs(om.working_crs)
    st = om.layer_for("metro_stations").to_crs(om.working_crs)
    geom = lines[lines["line"].str.contains("1号线")].geometry.iloc[0]
    on = st[st["seq_line1"].notna()].sort_values("seq_line1")
    pos = [geom.project(p) for p in on.geometry]
    expected = sorted(abs(b - a) / (cfg["speed_kmh"] / 3.6) for a, b in zip(pos, pos[1:], strict=False))
    e = g.edge_table()
    plat = g.platforms
    l1 = set(plat.loc[plat["line"] == "1", "node"])
    rides = e[(e["kind"] == "ride") & e["from"].isin(l1) & (e["from"] < e["to"])]
    np.testing.assert_allclose(sorted(rides["seconds"]), expected, rtol=1e-9)
    assert len(rides) == len(on) - 1  # Line 1 is no loop
    l3 = plat[plat["line"] == "3"]
    rides3 = e[(e["kind"] == "ride") & e["from"].isin(set(l3["node"])) & (e["from"] < e["to"])]
    assert len(rides3) == len(l3)  # the loop closes


def test_ice_circle_by_transit_with_and_without_the_nw_loop(onemap, tmp_path):
    res = run_coverage(onemap, preset="ice-30min", method="transit")
    assert res.params["without_lines"] == ["3-nw"] and res.params["season"] == "winter"
    eff = res.network_effect
    assert set(eff["scenario"]) == {"existing", "planned"}
    # leaving the loop out can only lose residents
    assert (eff["population_covered"] >= eff["population_covered_without"] - 0.5).all()
    assert eff["population_gained"].sum() > 0
    full, cut = res.scenarios["planned"].features, res.scenarios["planned without 3-nw"].features
    assert (full["time_min"].fillna(1e9) <= cut["time_min"].fillna(1e9) + 1e-9).all()
    tot = res.by_scenario
    assert set(tot["network"]) == {"full", "without 3-nw"}
    r = run("coverage", "--preset", "ice-30min", "--mode", "transit", "--without-line", "3", "--onemap", str(onemap),
            "--out", str(tmp_path / "t"), "--no-map")
    assert r.returncode == 0, r.stderr
    assert "without 3" in r.stdout and (tmp_path / "t" / "network_effect.csv").exists()


def test_bad_transit_options(onemap):
    with pytest.raises(CoverageError, match="measured in time"):
        run_coverage(onemap, facilities=["ice_sports"], method="transit", within="500m")
    with pytest.raises(CoverageError, match="needs --mode transit"):
        run_coverage(onemap, preset="ice-30min", without_lines=["3-nw"])
    with pytest.raises(CoverageError, match="not a line or section|no route with that id"):
        run_coverage(onemap, preset="ice-30min", method="transit", without_lines=["9"])
    with pytest.raises(CoverageError, match="--season 'monsoon'"):
        run_coverage(onemap, preset="ice-30min", season="monsoon")
