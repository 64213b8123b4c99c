"""One-map review with real geometry, checked against an independent shapely computation."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

import synthetic_city as syn
from cityplan.errors import GeometryError, MissingCRSError, ReviewError
from cityplan.onemap import OneMap
from cityplan.review import review_file, review_proposal
from cityplan.review.check import M2_PER_MU
from cli_invoke import invoke

CLEAN = (126.6776, 45.7180)  # a block of plain city land, away from every constraint
SYN_CLEAN = syn.lonlat(560, 330)  # the synthetic city: a block away from the park, water and districts' edge


def _gdf(geom, crs=4551, name="site"):
    return gpd.GeoDataFrame({"name": [name]}, geometry=[geom], crs=crs).to_crs(4326)


def _union(onemap, layer, query=None):
    g = OneMap.coerce(onemap).layer(layer).to_crs(4551)
    if query is not None:
        g = g.query(query)
    return shapely.union_all(g.geometry.to_numpy())


def _finding(rep, rule):
    return rep.findings.set_index("rule").loc[rule]


@pytest.fixture(scope="module")
def island(onemap):
    return _union(onemap, "sun_island", "place == 'island'")


def test_sun_island_proposal(onemap, island):
    site = island.representative_point().buffer(80)
    rep = review_proposal(_gdf(site), onemap=onemap)
    f = _finding(rep, "sun-island")
    assert f.hit and f.severity == "needs_approval"
    expected = site.intersection(_union(onemap, "sun_island")).area
    assert f.area_m2 == pytest.approx(expected, rel=1e-3)
    assert f.area_mu == pytest.approx(expected / M2_PER_MU, rel=1e-3)
    assert f.area_ha == pytest.approx(expected / 1e4, rel=1e-3)
    assert f.share == pytest.approx(expected / site.area, rel=1e-3)
    # the middle of the island is inside 太阳岛公园 (a park: green line) -> fail
    green = _finding(rep, "green-line")
    assert green.hit and green.area_m2 == pytest.approx(site.intersection(_union(onemap, "parks")).area, rel=1e-3)
    assert rep.verdict == "fail" and rep.exit_code == 1


def test_crossing_the_songhua(onemap):
    water = _union(onemap, "songhua_water")
    c = water.representative_point()
    site = LineString([(c.x, c.y - 1500), (c.x, c.y + 1500)]).buffer(15)
    rep = review_proposal(_gdf(site), onemap=onemap)
    blue = _finding(rep, "blue-line")
    assert blue.hit and rep.verdict == "fail"
    assert blue.area_m2 == pytest.approx(site.intersection(water).area, rel=1e-3)
    setback = _finding(rep, "riverside-setback")
    assert setback.area_m2 == pytest.approx(site.intersection(water.buffer(50, quad_segs=8)).area, rel=1e-3)
    # areas are metric (EPSG:4551), not Web Mercator (which would inflate them about 2x here)
    merc = gpd.GeoSeries([site], crs=4551).to_crs(3857).area.iloc[0]
    assert merc / site.area > 1.9 and blue.area_m2 < site.area


def test_on_an_existing_park(onemap):
    parks = OneMap.coerce(onemap).layer("parks").to_crs(4551)
    park = parks[parks.name == "兆麟公园"].geometry.iloc[0]
    site = park.representative_point().buffer(40)
    rep = review_proposal(_gdf(site, name="pavilion"), onemap=onemap)
    green = _finding(rep, "green-line")
    assert green.hit and green.severity == "forbidden" and rep.verdict == "fail"
    assert green.area_m2 == pytest.approx(site.intersection(shapely.union_all(parks.geometry.to_numpy())).area, rel=1e-3)
    assert green.share == pytest.approx(1.0, abs=1e-3)
    assert "pavilion" in set(rep.findings.feature_name)


def test_clean_site_has_no_conflict_but_is_incomplete(onemap):
    x, y = CLEAN
    site = box(x, y, x + 0.0008, y + 0.0006)
    rep = review_proposal(_gdf(site, crs=4326), onemap=onemap)
    assert not rep.findings.hit.any()
    # no conflict with what was checked, but the Harbin sample map has no statutory lines: the
    # forbidden ones (farmland, red line, boundary, 控规, yellow line) were not checked - not a pass
    assert rep.verdict == "incomplete" and rep.exit_code == 1
    assert {u["rule"] for u in rep.forbidden_unchecked} == {"permanent-farmland", "ecological-redline",
                                                            "urban-growth-boundary", "regulatory-plan", "yellow-line"}
    d = _finding(rep, "blue-line").distance_m
    water = _union(onemap, "songhua_water")
    assert d == pytest.approx(gpd.GeoSeries([site], crs=4326).to_crs(4551).iloc[0].distance(water), rel=1e-6)


def test_input_not_modified_and_version_reported(synthetic_onemap, tmp_path):
    x, y = SYN_CLEAN
    src = tmp_path / "p.geojson"
    _gdf(box(x, y, x + 0.0008, y + 0.0006), crs=4326).to_file(src)
    before = src.read_bytes()
    rep = review_file(src, onemap=synthetic_onemap)
    assert src.read_bytes() == before
    assert rep.data_version["onemap_built_at"] and len(rep.data_version["rules_sha256"]) == 64
    assert len(rep.data_version["proposal_sha256"]) == 64


def test_bad_inputs(synthetic_onemap, tmp_path):
    onemap = synthetic_onemap  # bad input is refused or mended whatever the city
    x, y = SYN_CLEAN
    csv = tmp_path / "nocrs.csv"
    csv.write_text(f"name,geom\na,POINT({x} {y})\n", encoding="utf-8")
    with pytest.raises(MissingCRSError, match="no CRS"):
        review_file(csv, onemap=onemap)
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type":"FeatureCollection","features":[]}', encoding="utf-8")
    with pytest.raises(GeometryError, match="no features"):
        review_file(empty, onemap=onemap)
    bow = Polygon([(x, y), (x + 0.001, y + 0.001), (x + 0.001, y), (x, y + 0.001), (x, y)])
    gpd.GeoDataFrame({"name": ["bowtie"]}, geometry=[bow], crs=4326).to_file(tmp_path / "bow.geojson")
    rep = review_file(tmp_path / "bow.geojson", onemap=onemap)
    assert any("Self-intersection" in n and "make_valid" in n for n in rep.notes)
    assert rep.proposal.geometry.iloc[0].is_valid
    gpd.GeoDataFrame({"name": ["pt"]}, geometry=[Point(x, y)], crs=4326).to_file(tmp_path / "pt.geojson")
    rep = review_file(tmp_path / "pt.geojson", onemap=onemap)
    assert any("red-line polygon" in n for n in rep.notes)
    assert rep.findings.area_m2.isna().all()
    gpd.GeoDataFrame({"name": ["paris"]}, geometry=[box(2.3, 48.8, 2.31, 48.81)], crs=4326).to_file(tmp_path / "far.geojson")
    with pytest.raises(ReviewError, match="entirely outside the one map.*gcj02"):
        review_file(tmp_path / "far.geojson", onemap=onemap)


def test_cli_exit_codes_and_json(synthetic_onemap, tmp_path):
    # exit codes, formats and output files on the synthetic city, in-process
    x, y = SYN_CLEAN
    _gdf(box(x, y, x + 0.0008, y + 0.0006), crs=4326).to_file(tmp_path / "ok.geojson")

    def run(*a):
        return invoke("review", *a, "--onemap", synthetic_onemap)

    r = run(tmp_path / "ok.geojson", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["verdict"] == "pass"
    assert set(data["findings"][0]) >= {"feature", "rule", "severity", "hit", "area_m2", "area_mu", "area_ha",
                                        "share", "distance_m"}
    # a 40 m circle inside the park (designed in metres of the city's working CRS)
    site = Point(290, 295).buffer(40)
    lonlat = Polygon([syn.lonlat(px, py) for px, py in shapely.get_coordinates(site.exterior)])
    gpd.GeoDataFrame({"name": ["pavilion"]}, geometry=[lonlat], crs=4326).to_file(tmp_path / "park.geojson")
    r = run(tmp_path / "park.geojson", "--out", tmp_path / "rev", "--format", "md")
    assert r.exit_code == 1 and "FAIL" in r.stdout
    assert {p.name for p in (tmp_path / "rev").iterdir()} >= {"review.json", "review.md", "review.html",
                                                               "review_map.html", "overlaps.gpkg"}
    saved = json.loads((tmp_path / "rev" / "review.json").read_text(encoding="utf-8"))
    green = {f["rule"]: f for f in saved["findings"]}["green-space"]  # the generic rules of `city new`
    assert green["hit"] and green["area_m2"] == pytest.approx(site.area, rel=1e-3)
    r = run(tmp_path / "missing.geojson")
    assert r.exit_code == 2 and "missing.geojson" in r.stderr and "Traceback" not in r.output


def test_facility_impact(onemap, tmp_path):
    # a new park next to homes raises park coverage in its district
    res = OneMap.coerce(onemap).layer("residential").to_crs(4551)
    parks = OneMap.coerce(onemap).layer("parks").to_crs(4551)
    far = res[res.distance(shapely.union_all(parks.geometry.to_numpy())) > 700].iloc[0].geometry
    site = far.representative_point().buffer(70)
    _gdf(site, name="new park").to_file(tmp_path / "newpark.geojson")
    rep = review_file(tmp_path / "newpark.geojson", onemap=onemap, facility_type="park")
    imp = rep.impact.set_index("district")
    assert "(all)" in imp.index and len(imp) >= 2
    assert (imp.area_share_after >= imp.area_share_before).all()
    assert imp.loc["(all)", "area_share_after"] > imp.loc["(all)", "area_share_before"]


def test_amap_red_line_with_neutral_name_is_flagged(onemap, tmp_path):
    """A red line exported from Amap (GCJ-02) but saved as plain GeoJSON gets a GCJ-02 warning."""
    from cityplan.crs import convert_datum
    from cityplan.onemap import OneMap

    parks = OneMap.coerce(onemap).layer("parks")
    big = parks.assign(a=parks.to_crs(4551).area).sort_values("a").tail(12).drop(columns="a")
    shifted = convert_datum(big[["name", "geometry"]], "EPSG:4326", "gcj02")
    path = tmp_path / "site.geojson"  # nothing in the name says gcj02
    shifted.to_file(path, driver="GeoJSON")
    rep = review_file(path, onemap=onemap)
    assert rep.data_version["gcj02_check"] == "gcj02"
    assert rep.notes[0].startswith("WARNING") and "--crs gcj02" in rep.notes[0]
    honest = tmp_path / "real.geojson"
    big[["name", "geometry"]].to_file(honest, driver="GeoJSON")
    assert review_file(honest, onemap=onemap).data_version["gcj02_check"] != "gcj02"
