"""Layers per view (`cityplan.maps.tiles`): JSON-text pieces, cached answers, grid aggregate;
and the review's per-build constraint cache. In-process, on small synthetic layers."""

from __future__ import annotations

import gzip
import json

import geopandas as gpd
import numpy as np
import shapely

from cityplan.maps import tiles
from cityplan.maps.encode import decode_polyline
from cityplan.maps.payload import LayerView
from conftest import HARBIN, HARBIN_DIR


def _squares(n: int, side: float = 0.0002) -> gpd.GeoDataFrame:
    """n squares on a grid over roughly 0.6 x 0.4 degrees near Harbin, every 7th missing."""
    cols = int(np.ceil(np.sqrt(n * 1.5)))
    i = np.arange(n)
    xs, ys = 126.4 + (i % cols) * 0.6 / cols, 45.6 + (i // cols) * 0.4 / (n / cols)
    keep = i % 7 != 3
    return gpd.GeoDataFrame({"name": [f"b{k}" for k in i[keep]]},
                            geometry=shapely.box(xs[keep], ys[keep], xs[keep] + side, ys[keep] + side), crs=4326)


def _rects(payload: dict) -> list[shapely.Polygon]:
    def ring(g):  # the outer ring of a polygon's nested lists of encoded rings
        while isinstance(g, list):
            g = g[0]
        return g

    return [shapely.Polygon(decode_polyline(ring(g), mercator=True)) for g in payload["geoms"]]


def test_aggregate_covers_every_feature_and_only_cells_with_one():
    gdf = _squares(30_000)
    prep = tiles.prepare(LayerView(id="dense", title="dense", gdf=gdf, fields=["name"]))
    cache = tiles.TileCache()
    bbox = (126.3, 45.5, 127.1, 46.1)
    p = cache.payload("b1", prep, bbox, 11)
    agg = p["aggregate"]
    assert agg and agg["features"] == len(gdf) and p["dense"] and p["rows"] == [[]] * len(p["geoms"])
    rects = _rects(p)
    assert len(rects) == agg["cells"] < len(gdf) / 10
    union = shapely.union_all(rects)
    # independent: every square's centre is inside an aggregate rectangle...
    b = gdf.geometry.bounds
    centres = shapely.points((b.minx + b.maxx) / 2, (b.miny + b.maxy) / 2)
    assert shapely.covered_by(centres, shapely.buffer(union, 1e-6)).all()
    # ...and every rectangle holds at least one centre
    tree = shapely.STRtree(centres)
    assert all(len(tree.query(r, predicate="intersects")) for r in rects)
    # zoomed in, the same layer is sent feature by feature with attributes
    q = cache.payload("b1", prep, (126.60, 45.75, 126.62, 45.76), 16)
    assert "aggregate" not in q and len(q["geoms"]) == len(q["rows"]) == len(q["fids"]) > 0
    inside = gdf.iloc[q["fids"]]
    assert [r[0] for r in q["rows"]] == list(inside["name"])


def test_answers_cached_per_tile_range_with_gzip_and_etag():
    gdf = _squares(2_000, side=0.005)
    prep = tiles.prepare(LayerView(id="few", title="few", gdf=gdf, fields=["name"]))
    cache = tiles.TileCache()
    a = cache.answer("b1", prep, (126.5, 45.7, 126.7, 45.8), 13)
    assert json.loads(gzip.decompress(a.gz)) == json.loads(a.raw)
    # a view inside the same data tiles gets the very same answer; another build a new one
    assert cache.cached("b1", "few", (126.5001, 45.7001, 126.6999, 45.7999), 13) is a
    assert cache.cached("b2", "few", (126.5, 45.7, 126.7, 45.8), 13) is None
    d = json.loads(a.raw)
    assert len(set(d["fids"])) == len(d["fids"]) == len(d["geoms"])  # each feature once across tiles
    # independent: the features whose box meets the answered data tiles
    n = 2 ** (13 - tiles.DATA_TILE_LEVELS)
    x0, y0, x1, y1 = tiles.tile_range((126.5, 45.7, 126.7, 45.8), 13 - tiles.DATA_TILE_LEVELS)
    from cityplan.maps.encode import lonlat_to_mercator

    merc = shapely.transform(gdf.geometry.values, lonlat_to_mercator)
    want = shapely.STRtree(merc).query(shapely.box(x0 / n, y0 / n, (x1 + 1) / n, (y1 + 1) / n))
    assert sorted(d["fids"]) == sorted(want.tolist())


def test_review_constraints_prepared_once_per_build(onemap):
    from cityplan.onemap import OneMap
    from cityplan.review import check
    from cityplan.review.rules import load_rules

    om = OneMap.open(onemap)
    rules = load_rules(HARBIN)[0]
    red = gpd.read_file(HARBIN_DIR / "examples" / "proposals" / "river_crossing.geojson")
    built: list[str] = []
    real = check.build_constraint

    def counting(rule, *args, **kw):
        built.append(rule.id)
        return real(rule, *args, **kw)

    check.build_constraint = counting
    try:
        first = check.review_proposal(red, onemap=om, rules=rules)
        n = len(built)
        second = check.review_proposal(red, onemap=om, rules=rules)
    finally:
        check.build_constraint = real
    assert n > 0 and len(built) == n  # the second review prepared nothing again
    assert all(k[0] == om.build_stamp for k in om._derived)  # kept on the map, keyed by its build
    assert first.verdict == second.verdict and first.findings.equals(second.findings)
