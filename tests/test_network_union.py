"""The threaded union of an isochrone's buffers, and the CSR matrix's cheapest parallel edge."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from cityplan.network.graph import RoadGraph, load_speeds
from cityplan.network.search import isochrone
from cityplan.network.union import disjoint_groups, map_threaded, union_all_threaded
from conftest import HARBIN


def _clusters(seed: int = 0, n_clusters: int = 12, per: int = 60) -> np.ndarray:
    """Random short lines in clusters, some clusters close enough for their buffers to touch."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 6000, size=(n_clusters, 2))
    a = np.repeat(centres, per, axis=0) + rng.normal(0, 150, size=(n_clusters * per, 2))
    b = a + rng.normal(0, 60, size=a.shape)
    return shapely.linestrings(np.stack([a, b], axis=1))


def test_disjoint_groups_separate_only_boxes_that_do_not_meet() -> None:
    geoms = shapely.buffer(_clusters(), 100.0, quad_segs=2)
    label = disjoint_groups(geoms, cell_m=250.0)
    b = shapely.bounds(geoms)
    meet = ((b[:, None, 0] <= b[None, :, 2]) & (b[None, :, 0] <= b[:, None, 2])
            & (b[:, None, 1] <= b[None, :, 3]) & (b[None, :, 1] <= b[:, None, 3]))
    i, j = np.nonzero(meet)
    assert (label[i] == label[j]).all()  # boxes that meet share a group
    # so the groups' unions never overlap: the whole union is theirs side by side
    parts = [shapely.union_all(geoms[label == g]) for g in np.unique(label)]
    assert sum(p.area for p in parts) == pytest.approx(shapely.union_all(geoms).area, rel=1e-12)
    assert len(np.unique(label)) > 1


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threaded_union_covers_the_same_area(threads: int) -> None:
    geoms = shapely.buffer(_clusters(1), 100.0, quad_segs=2)
    want = shapely.union_all(geoms)
    got = union_all_threaded(geoms, threads=threads, min_size=1)
    assert got.is_valid
    assert got.area == pytest.approx(want.area, rel=1e-12)
    assert shapely.symmetric_difference(got, want).area < 1e-6 * want.area
    assert shapely.get_num_geometries(got) == shapely.get_num_geometries(want)


def test_isochrone_threads_match_one_thread() -> None:
    lines = _clusters(2)
    one = isochrone(lines, 100.0, threads=1)
    import cityplan.network.union as union

    old = union.PARALLEL_MIN
    union.PARALLEL_MIN = 1
    try:
        two = isochrone(lines, 100.0, threads=2)
    finally:
        union.PARALLEL_MIN = old
    assert two.area == pytest.approx(one.area, rel=1e-12)
    assert shapely.symmetric_difference(one, two).area < 1e-6 * one.area


def test_map_threaded_equals_one_call() -> None:
    a = shapely.buffer(_clusters(3), 50.0)
    b = shapely.buffer(_clusters(4), 50.0)
    want = shapely.intersection(a, b)
    got = map_threaded(shapely.intersection, a, b, threads=3, min_size=1)
    assert len(got) == len(want)
    assert shapely.equals_exact(got, want, tolerance=0).all()


def test_matrix_keeps_the_cheapest_parallel_edge() -> None:
    rng = np.random.default_rng(5)
    n, m = 30, 200
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    length = rng.uniform(1, 100, m)
    xy = rng.uniform(0, 1000, (n, 2))
    g = RoadGraph(node_xy=xy, u=u, v=v, length=length, road_class=np.full(m, "residential", dtype=object),
                  oneway=rng.random(m) < 0.3, geoms=shapely.linestrings(np.stack([xy[u], xy[v]], axis=1)), crs=None,
                  speeds=load_speeds(HARBIN))
    extra = (np.array([n, n, n, 2]), np.array([0, 1, 0, 3]), np.array([5.0, 3.0, 2.0, 0.5]))
    for mode, reverse in (("walk", False), ("drive", True)):
        got = g.matrix(mode, "m", extra=extra, n_extra=1, reverse=reverse).toarray()
        want = np.full((n + 1, n + 1), np.inf)  # independent: a loop keeping the minimum
        for a, b, c, ow in zip(u, v, length, g.oneway, strict=True):
            pairs = [(a, b)] + ([] if (ow and mode == "drive") else [(b, a)])
            for x, y in pairs:
                x, y = (y, x) if reverse else (x, y)
                want[x, y] = min(want[x, y], c)
        for x, y, c in zip(*extra, strict=True):
            want[x, y] = min(want[x, y], c)
        want = np.where(np.isinf(want), 0.0, np.maximum(want, 1e-6))
        np.testing.assert_array_equal(got, want)


def test_simplified_skips_only_segments() -> None:
    from cityplan.network.search import _simplified

    rng = np.random.default_rng(7)
    pts = np.cumsum(rng.normal(0, 4, size=(400, 2)), axis=0)
    lines = np.array([shapely.LineString(pts[i:i + k]) for i, k in zip(range(0, 380, 4), rng.integers(2, 6, 95),
                                                                         strict=True)], dtype=object)
    got = _simplified(lines, 5.0)
    want = shapely.simplify(lines, 5.0)
    assert (shapely.to_wkb(got) == shapely.to_wkb(want)).all()
    n_in, n_out = shapely.get_num_coordinates(lines), shapely.get_num_coordinates(want)
    assert (n_in == 2).any() and (n_out < n_in).any()  # both kinds were there
