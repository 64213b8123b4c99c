"""Map building blocks: encoding accuracy, escaping, GCJ-02 display shift, recipes, CLI."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import polyline
import pytest
from pyproj import Geod
from shapely.geometry import Point, Polygon

from cityplan.errors import LayerNotFoundError, SchemaError
from cityplan.maps.basemaps import BasemapError, get_basemap
from cityplan.maps.encode import decode_polyline, encode_geometries, encode_rings
from cityplan.maps.payload import LayerView, json_for_script, layer_payload
from cityplan.maps.recipes import load_recipe
from cli_invoke import invoke
from conftest import HARBIN

GEOD = Geod(ellps="WGS84")


def test_polyline_matches_reference_library():
    rng = np.random.default_rng(3)
    coords = np.column_stack([rng.uniform(126.4, 126.9, 2000), rng.uniform(45.6, 45.9, 2000)])
    offsets = np.array([0, 1, 2, 50, 1999, 2000])
    for s, a, b in zip(encode_rings(coords, offsets), offsets[:-1], offsets[1:], strict=True):
        assert s == polyline.encode([(la, lo) for lo, la in coords[a:b]], 6)
        back = np.array(polyline.decode(s, 6))[:, ::-1]
        err = GEOD.inv(back[:, 0], back[:, 1], coords[a:b, 0], coords[a:b, 1])[2]
        assert err.max() < 0.1  # metres


def test_encode_geometries_round_trip(onemap):
    res = gpd.read_file(onemap, layer="residential").head(200)
    kind, feats = encode_geometries(res.geometry)
    assert kind == "polygon" and len(feats) == 200
    for geom, enc in zip(res.geometry, feats, strict=True):
        polys = list(geom.geoms)
        assert len(enc) == len(polys)
        ring = decode_polyline(enc[0][0], mercator=True)
        orig = np.asarray(polys[0].exterior.coords)
        assert ring.shape == orig.shape
        assert GEOD.inv(ring[:, 0], ring[:, 1], orig[:, 0], orig[:, 1])[2].max() < 0.1


def test_json_for_script_cannot_close_the_script():
    text = json_for_script({"name": "</script><script>alert(1)</script>", "b": "{{ 7*7 }} & {% raw %}"})
    assert "</script" not in text and "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def _view(gdf, **kw):
    return LayerView(id="t", title="t", gdf=gdf, **kw)


def test_gaode_shift_is_display_only(onemap):
    st = gpd.read_file(onemap, layer="metro_stations")
    before = st.copy()
    wgs = layer_payload(_view(st, simplify_m=0))
    gcj = layer_payload(_view(st, simplify_m=0), gcj02=True)
    a = np.array([decode_polyline(s, mercator=True)[0] for s in wgs["geoms"]])
    b = np.array([decode_polyline(s, mercator=True)[0] for s in gcj["geoms"]])
    d = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2]
    assert 480 < np.median(d) < 540  # ≈ 510 m in Harbin
    # north-east, as Amap tiles expect
    assert (b[:, 0] > a[:, 0]).all() and (b[:, 1] > a[:, 1]).all()
    assert before.geom_equals_exact(st, 0).all()  # the data are untouched
    assert (gpd.read_file(onemap, layer="metro_stations").geom_equals_exact(st, 0)).all()


def test_simplification_stays_below_half_a_metre(onemap):
    parks = gpd.read_file(onemap, layer="parks")
    p = layer_payload(_view(parks, simplify_m=0.25))
    work = parks.to_crs(4551).geometry
    for i in range(0, len(parks), 37):
        ring = decode_polyline(p["geoms"][i][0][0], mercator=True)
        pts = gpd.GeoSeries([Point(x, y) for x, y in ring], crs=4326).to_crs(4551)
        assert pts.distance(work.iloc[i].boundary).max() < 0.5


def test_payload_keeps_fields_and_flags():
    gdf = gpd.GeoDataFrame({"name": ["a", None], "n": [1.5, np.nan], "illustrative": [True, False]},
                           geometry=[Polygon([(126.6, 45.7), (126.61, 45.7), (126.61, 45.71)]),
                                     Point(126.6, 45.7).buffer(0.001)], crs=4326)
    p = layer_payload(_view(gdf, fields=["n"]))
    assert p["fields"] == ["name", "n"] and p["rows"] == [["a", 1.5], [None, None]]
    assert p["ill"] == [1, 0] and p["kind"] == "polygon"


def test_basemaps(monkeypatch):
    monkeypatch.delenv("CITYPLAN_TIANDITU_KEY", raising=False)
    with pytest.raises(BasemapError, match="CITYPLAN_TIANDITU_KEY"):
        get_basemap("tianditu")
    monkeypatch.setenv("CITYPLAN_TIANDITU_KEY", "k123")
    tdt = get_basemap("tianditu")
    assert not tdt.gcj02 and all("tk=k123" in t[0] for t in tdt.tiles)
    assert get_basemap("gaode").gcj02 and not get_basemap("osm").gcj02
    assert get_basemap("none").tiles == ()
    with pytest.raises(BasemapError, match="unknown basemap"):
        get_basemap("bing")


def test_recipes(tmp_path):
    r = load_recipe("onemap", HARBIN)
    assert {g["id"] for g in r.groups} == {"base", "plan", "facility", "constraint"}
    with pytest.raises(LayerNotFoundError, match="known recipes"):
        load_recipe("nope", HARBIN)
    bad = tmp_path / "r.yaml"
    bad.write_text("groups: [{id: a, title: A}]\nlayers:\n  - {layer: parks, group: b}\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="group 'b'"):
        load_recipe(bad)


def test_onemap_html_has_no_cdn_when_offline(synthetic_onemap, tmp_path):
    out = tmp_path / "m.html"
    r = invoke("map", "onemap", "--onemap", synthetic_onemap, "--offline", "--basemap", "none", "--out", out)
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", html)
    assert "Leaflet 1.9" in html and "中心公园" in html  # the library inlined; the city's park drawn
    assert "© OpenStreetMap contributors" in html
    online = tmp_path / "o.html"
    r = invoke("map", "onemap", "--onemap", synthetic_onemap, "--out", online)
    assert r.exit_code == 0, r.output
    assert "tile.openstreetmap.org" in online.read_text(encoding="utf-8")
    r = invoke("map", "onemap", "--onemap", synthetic_onemap, "--out", online)
    assert r.exit_code == 2 and "--overwrite" in r.stderr


def test_empty_layer_payload():
    empty = gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    p = layer_payload(_view(empty))
    assert p["geoms"] == [] and p["rows"] == [] and p["kind"] == "polygon"
