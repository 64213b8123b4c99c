"""The routing engine against independent computations: networkx and brute force (Floyd-Warshall)."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
import shapely.affinity
from scipy.sparse.csgraph import floyd_warshall
from shapely.geometry import LineString

from cityplan.errors import NetworkError
from cityplan.network import graph_from_edges, graph_from_lines, snap_points
from cityplan.network.graph import load_speeds
from cityplan.network.search import WALK_ACCESS_MS, access_costs, reach_from_sources
from cityplan.onemap import OneMap
from conftest import HARBIN


def split_graph(graph, mode: str, unit: str, snaps: dict[str, object], speed_kmh=None) -> nx.DiGraph:
    """networkx graph with every snapped point inserted as a node on its edge (the independent model)."""
    per_m = 1.0 / graph.speed_ms(mode, speed_kmh) if unit == "s" else np.where(graph.usable(mode), 1.0, np.nan)
    g = nx.DiGraph()
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for kind, s in snaps.items():
        for i in np.flatnonzero(s.ok):
            on_edge.setdefault(int(s.edge[i]), []).append((float(s.offset[i]), (kind, int(i))))
            access = s.dist[i] / WALK_ACCESS_MS if unit == "s" else s.dist[i]
            # the point itself <-> its foot on the edge
            g.add_edge((kind, int(i), "pt"), (kind, int(i)), weight=access)
            g.add_edge((kind, int(i)), (kind, int(i), "pt"), weight=access)
    for e in range(len(graph.u)):
        if np.isnan(per_m[e]):
            continue
        stops = [(0.0, ("n", int(graph.u[e])))] + sorted(on_edge.get(e, [])) + [(graph.length[e], ("n", int(graph.v[e])))]
        back = not (graph.oneway[e] and mode == "drive")
        for (a, na), (b, nb) in zip(stops[:-1], stops[1:], strict=True):
            w = (b - a) * per_m[e]
            for x, y in ((na, nb), (nb, na)) if back else ((na, nb),):
                if not g.has_edge(x, y) or g[x][y]["weight"] > w:
                    g.add_edge(x, y, weight=w)
    return g


def _nx_costs(g: nx.DiGraph, n_dem: int, fac_ok: np.ndarray) -> np.ndarray:
    targets = [("f", int(i), "pt") for i in np.flatnonzero(fac_ok)]
    dist = nx.multi_source_dijkstra_path_length(g.reverse(copy=False), targets, weight="weight")
    return np.array([dist.get(("d", i, "pt"), np.inf) for i in range(n_dem)])


@pytest.fixture(scope="module")
def harbin_graph(onemap):
    return graph_from_edges(OneMap.coerce(onemap).layer("road_graph"), speeds=load_speeds(HARBIN))


@pytest.mark.parametrize(("mode", "unit", "speed"), [("walk", "m", None), ("drive", "s", None), ("walk", "s", 3.6)])
def test_harbin_costs_equal_networkx(harbin_graph, onemap, mode, unit, speed):
    g = harbin_graph
    rng = np.random.default_rng(42)
    minx, miny = g.node_xy.min(axis=0)
    maxx, maxy = g.node_xy.max(axis=0)
    fac_xy = np.column_stack([rng.uniform(minx, maxx, 15), rng.uniform(miny, maxy, 15)])
    dem_xy = np.column_stack([rng.uniform(minx, maxx, 150), rng.uniform(miny, maxy, 150)])
    main = g.main_component_edges()
    sf = snap_points(g, fac_xy, mode=mode, max_snap_m=2000, mask=main)
    sd = snap_points(g, dem_xy, mode=mode, max_snap_m=2000, mask=main)
    reach = reach_from_sources(g, sf, np.arange(15), mode=mode, unit=unit, speed_kmh=speed)
    ours, _ = access_costs(g, reach, sd)
    ref = _nx_costs(split_graph(g, mode, unit, {"f": sf, "d": sd}, speed), 150, sf.ok)
    finite = np.isfinite(ref)
    assert finite.sum() > 100
    np.testing.assert_array_equal(np.isfinite(ours), finite)
    tol = 1.0 if unit == "m" else 1.0 / 1.25  # < 1 m (in seconds: 1 m at walking speed)
    assert np.abs(ours[finite] - ref[finite]).max() < tol


X0, Y0 = 500_000.0, 5_060_000.0  # central Harbin in EPSG:4551


def _grid_lines(n: int = 5, step: float = 100.0, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    lines, cls, ow = [], [], []
    for i in range(n):
        for j in range(n - 1):
            jit = rng.uniform(-20, 20)
            lines.append(LineString([(j * step, i * step), ((j + 0.5) * step, i * step + jit), ((j + 1) * step, i * step)]))
            lines.append(LineString([(i * step, j * step), (i * step, (j + 1) * step)]))
            cls += ["residential", "primary"]
            ow += ["yes" if rng.random() < 0.3 else "no", "no"]
    lines = [shapely.affinity.translate(line, X0, Y0) for line in lines]
    return gpd.GeoDataFrame({"highway": cls, "oneway": ow}, geometry=lines, crs=4551).to_crs(4326)


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_small_graph_equals_brute_force(mode):
    lines = _grid_lines()
    g = graph_from_lines(lines, oneway="oneway", speeds=load_speeds(HARBIN))
    assert g.crs.to_epsg() == 4551
    rng = np.random.default_rng(3)
    fac_xy = rng.uniform(-10, 410, (4, 2)) + (X0, Y0)
    dem_xy = rng.uniform(-10, 410, (40, 2)) + (X0, Y0)
    sf = snap_points(g, fac_xy, mode=mode, max_snap_m=100)
    sd = snap_points(g, dem_xy, mode=mode, max_snap_m=100)
    reach = reach_from_sources(g, sf, np.arange(4), mode=mode, unit="s")
    ours, label = access_costs(g, reach, sd)
    # brute force: all-pairs Floyd-Warshall on the split graph
    nxg = split_graph(g, mode, "s", {"f": sf, "d": sd})
    nodes = list(nxg.nodes)
    idx = {n: k for k, n in enumerate(nodes)}
    mat = nx.to_scipy_sparse_array(nxg, nodelist=nodes, weight="weight")
    allp = floyd_warshall(mat, directed=True)
    for i in range(40):
        best = min(allp[idx[("d", i, "pt")], idx[("f", j, "pt")]] for j in range(4))
        assert ours[i] == pytest.approx(best, abs=0.5)
        if np.isfinite(best):
            j = label[i]
            assert allp[idx[("d", i, "pt")], idx[("f", j, "pt")]] == pytest.approx(best, abs=0.5)


def test_lines_are_noded():
    lines = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 200, Y0)]),
                                       LineString([(X0 + 100, Y0 - 100), (X0 + 100, Y0 + 100)])],
                             crs=4551).to_crs(4326)
    g = graph_from_lines(lines, road_class=None, speeds=load_speeds(HARBIN))
    assert len(g.u) == 4 and g.n_nodes == 5
    assert g.length.sum() == pytest.approx(400, abs=0.01)


def test_fragmented_network_is_refused():
    pieces = gpd.GeoDataFrame(geometry=[LineString([(X0 + i * 300, Y0), (X0 + i * 300 + 100, Y0)]) for i in range(10)],
                              crs=4551).to_crs(4326)
    g = graph_from_lines(pieces, road_class=None, speeds=load_speeds(HARBIN))
    with pytest.raises(NetworkError, match=r"falls apart into 10 components.*noded"):
        g.check_connected()


def test_snap_limit_flags_far_points(harbin_graph):
    far = np.array([[0.0, 0.0], harbin_graph.node_xy[0]])
    s = snap_points(harbin_graph, far, mode="walk", max_snap_m=300)
    assert list(s.ok) == [False, True]
    assert shapely.points(far[1]).distance(harbin_graph.geoms[s.edge[1]]) == pytest.approx(s.dist[1])


def test_snapping_reuses_one_edge_index_per_subset_and_equals_brute_force(harbin_graph):
    """Facilities and demand snap to the same edges: the index is built once for that subset; a
    different subset gets its own. Every snap equals the brute-force nearest usable edge."""
    import dataclasses

    g = dataclasses.replace(harbin_graph)  # a fresh graph: no index yet
    assert g.edge_trees == {}
    rng = np.random.default_rng(7)
    lo, hi = g.node_xy.min(axis=0), g.node_xy.max(axis=0)
    pts = rng.uniform(lo, hi, size=(60, 2))
    main = g.main_component_edges()
    a = snap_points(g, pts[:30], mode="walk", max_snap_m=300, mask=main)
    (key, (_, tree)), = g.edge_trees.items()
    b = snap_points(g, pts[30:], mode="walk", max_snap_m=300, mask=main)
    assert list(g.edge_trees) == [key] and g.edge_trees[key][1] is tree  # reused, not rebuilt
    c = snap_points(g, pts, mode="drive", max_snap_m=300)  # another subset: another index
    assert list(g.edge_trees) != [key]
    usable = np.flatnonzero(g.usable("walk") & main)
    for s, chunk in ((a, pts[:30]), (b, pts[30:])):
        d = shapely.distance(shapely.points(chunk)[:, None], g.geoms[usable][None, :])
        best = d.min(axis=1)
        ok = best <= 300
        assert (s.ok == ok).all()
        np.testing.assert_allclose(s.dist[ok], best[ok], atol=1e-9)
    drive = np.flatnonzero(g.usable("drive"))
    d = shapely.distance(shapely.points(pts)[:, None], g.geoms[drive][None, :]).min(axis=1)
    np.testing.assert_allclose(c.dist[c.ok], d[c.ok], atol=1e-9)


def _same_edge_loop(graph, reach, demand):
    """The per-point loop access_costs used before it was vectorised (the reference)."""
    from cityplan.network.search import _access

    ok = np.flatnonzero(demand.ok)
    e, t = demand.edge[ok], demand.offset[ok]
    conn = _access(reach.unit, demand.dist[ok])
    k = reach.per_m[e]
    via_v = conn + (graph.length[e] - t) * k + reach.cost[graph.v[e]]
    via_u = np.where(reach.back_ok[e], conn + t * k + reach.cost[graph.u[e]], np.inf)
    best = np.minimum(via_u, via_v)
    lab = np.where(via_u <= via_v, reach.label[graph.u[e]], reach.label[graph.v[e]])
    s = reach.sources
    by_edge: dict[int, list[int]] = {}
    for j in np.flatnonzero(s.ok):
        by_edge.setdefault(int(s.edge[j]), []).append(j)
    for i, (edge, off) in enumerate(zip(e, t, strict=True)):
        for j in by_edge.get(int(edge), ()):
            d = s.offset[j] - off
            if d < 0 and not reach.back_ok[edge]:
                continue
            c = conn[i] + abs(d) * k[i] + _access(reach.unit, np.array([s.dist[j]]))[0]
            if c < best[i]:
                best[i], lab[i] = c, reach.source_labels[j]
    best = np.where(best <= reach.limit, best, np.inf)
    cost, label = np.full(len(demand.edge), np.inf), np.full(len(demand.edge), -1)
    cost[ok] = best
    label[ok] = np.where(np.isfinite(best), lab, -1)
    return cost, label


@pytest.mark.parametrize(("mode", "unit"), [("walk", "m"), ("drive", "s")])
def test_same_edge_facilities_equal_the_loop(harbin_graph, mode, unit):
    """Demand points on the edges of facilities (several per edge, ties, one-way streets when
    driving): the vectorised access_costs equals the loop, label by label."""
    from cityplan.network.snap import Snap

    g = harbin_graph
    rng = np.random.default_rng(11)
    usable = np.flatnonzero(g.usable(mode) & g.main_component_edges())
    edges = rng.choice(usable, 40, replace=False)
    f_edge = np.repeat(edges, 3)  # three facilities per edge, two of them at the same spot (a tie)
    f_off = g.length[f_edge] * np.tile([0.2, 0.7, 0.7], 40)
    sf = Snap(edge=f_edge, offset=f_off, dist=np.tile([5.0, 12.0, 12.0], 40))
    labels = np.arange(len(f_edge)) // 2  # labels shared by pairs of access points
    d_edge = np.concatenate([np.repeat(edges, 4), rng.choice(usable, 200)])
    sd = Snap(edge=d_edge, offset=g.length[d_edge] * rng.uniform(0, 1, len(d_edge)),
              dist=rng.uniform(0, 50, len(d_edge)))
    sd.edge[::37] = -1  # some points not snapped
    reach = reach_from_sources(g, sf, labels, mode=mode, unit=unit, limit=900.0)
    got_cost, got_label = access_costs(g, reach, sd)
    want_cost, want_label = _same_edge_loop(g, reach, sd)
    np.testing.assert_array_equal(got_cost, want_cost)
    np.testing.assert_array_equal(got_label, want_label)
    assert np.isfinite(got_cost[: 160]).mean() > 0.9  # the same-edge trips were taken
