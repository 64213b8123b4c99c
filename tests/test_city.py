"""`cityplan city new` on the synthetic city: layers, graph, build, coverage equal to the design."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

import synthetic_city as syn
from cityplan.catalog import load_catalog
from cityplan.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> syn.SyntheticCity:
    return syn.write_city(tmp_path_factory.mktemp("syn-src"))


@pytest.fixture(scope="module")
def city(src: syn.SyntheticCity, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("syn-city") / "city"
    res = run("city", "new", "Synthetic", "--osm", src.osm, "--districts", src.districts,
              "--census", src.census, "--out", out)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def built(city: Path) -> Path:
    gpkg = city.parent / "synthetic.gpkg"
    res = run("build", "--city", city, "--data", city, "--out", gpkg)
    assert res.exit_code == 0, res.output
    return gpkg


def test_city_json_accounts_for_every_feature(city: Path) -> None:
    s = json.loads((city / "city.json").read_text(encoding="utf-8"))
    f = s["osm"]["features"]
    # 4 tagged nodes (school, pitch, parking, shop), 17 lines (14 streets, trunk, construction, stream),
    # 39 areas (32 compounds, park, school, rink, parking, lake, wetland, building): all used (the
    # building by the buildings layer); the shop node is the one feature no layer takes
    assert (f["points"]["read"], f["points"]["used"], f["points"]["unused"]) == (4, 3, 1)
    assert (f["lines"]["read"], f["lines"]["unused"]) == (17, 0)
    assert (f["multipolygons"]["read"], f["multipolygons"]["unused"]) == (39, 0)
    assert s["layers"] == {"residential": 32, "roads": 16, "road_graph": syn.EXPECTED_EDGES, "buildings": 1,
                           "metro_lines": 0, "metro_stations": 0, "railways": 0, "water": 1,
                           "water_polygons": 1, "waterways": 1, "parks": 1, "schools": 1,
                           "schools_points": 2, "health_facilities": 0, "health_facility_points": 0,
                           "parking": 1, "parking_points": 1, "sports_facilities": 1,
                           "sports_facility_points": 1, "ice_sports": 2}
    g = s["road_graph"]
    assert (g["edges"], g["nodes"], g["oneway_edges"]) == (syn.EXPECTED_EDGES, syn.EXPECTED_NODES,
                                                           syn.EXPECTED_ONEWAY)
    assert g["ways_skipped"] == {"highway=construction (not routable)": 1}
    assert s["working_crs"] == "EPSG:4548"  # CGCS2000 GK zone of 117E, from the data
    assert s["districts"]["kept"] == 2


def test_catalog_declares_the_roles_analyses_look_up(city: Path) -> None:
    cat = load_catalog(city / "catalog.yaml")
    assert cat.working_crs == "EPSG:4548" and cat.city == "Synthetic"
    for role, lid in [("districts", "districts"), ("census", "census_population"), ("road_graph", "road_graph"),
                      ("residential", "residential"), ("parks", "parks"), ("schools", "schools_points"),
                      ("water", "water"), ("ice_sports", "ice_sports")]:
        assert [s.id for s in cat.with_role(role)] == [lid]
    assert [s.id for s in cat.with_role("parking")] == ["parking", "parking_points"]
    assert cat.get("parks").licence == "ODbL-1.0" and cat.get("districts").licence == "as supplied"
    lon0, lat0 = syn.lonlat(0, -100)
    lon1, lat1 = syn.lonlat(1600, 900)
    assert np.allclose(cat.extract_bbox, (lon0, lat0, lon1, lat1), atol=1e-4)


def test_road_graph_follows_osm_topology(city: Path) -> None:
    edges = gpd.read_file(city / "osm_layers.gpkg", layer="road_graph")
    # the trunk bridge crosses four streets without sharing a node: one edge
    assert (edges["class_id"] == "trunk").sum() == 1
    ow = edges[edges["reverse"] == -1]
    assert len(ow) == syn.EXPECTED_ONEWAY
    # oneway=-1 (x = 1600, drawn south -> north) is stored in travel direction: north -> south
    x1600 = ow[ow["name"] == f"经{syn.NX}路"]
    ys = np.array([[g.coords[0][1], g.coords[-1][1]] for g in x1600.geometry])
    assert len(x1600) == 4 and (ys[:, 0] > ys[:, 1]).all()
    assert np.allclose(edges["length"].sum(), 9 * 800 + 5 * 1600 + 1000, atol=1.0)


def test_districts_and_census(city: Path) -> None:
    d = gpd.read_file(city / "districts.gpkg")
    assert d["adcode"].tolist() == ["990101", "990102"]
    # 900 m wide districts, 800 m of each inside the extract
    assert np.allclose(d["extract_share"], 800 / 900, atol=0.002)
    c = pd.read_csv(city / "census_population.csv", encoding="utf-8-sig", dtype={"adcode": str})
    assert (c["pop_2020"] * c["urban_share"]).tolist() == [16000, 16000]


def _coverage(onemap: Path, mode: str, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    res = run("coverage", "--onemap", onemap, "--facilities", "parks", "--demand", "residential",
              "--within", "500m", "--mode", mode, "--out", out, "--no-map")
    assert res.exit_code == 0, res.output
    feats = pd.read_csv(out / "per_feature.csv", encoding="utf-8-sig")
    per = pd.read_csv(out / "per_district.csv", encoding="utf-8-sig")
    # no plan sites in this city: the planned scenario is the existing one and the difference is 0
    sc = {k: g.set_index("district") for k, g in per.groupby("scenario")}
    pd.testing.assert_series_equal(sc["existing"]["features_covered"], sc["planned"]["features_covered"])
    assert (sc["difference"]["features_covered"] == 0).all()
    return feats, sc["planned"]


@pytest.mark.parametrize(("mode", "expected"), [("euclid", syn.euclid_distance), ("walk", syn.walk_distance)])
def test_coverage_equals_the_design(built: Path, tmp_path: Path, mode: str, expected) -> None:
    want = expected()
    feats, per = _coverage(built, mode, tmp_path / mode)
    got = dict(zip(feats["name"], feats["distance_m"], strict=True))
    assert set(got) == set(want)
    for name, d in want.items():
        assert got[name] == pytest.approx(d, abs=0.5), name
    covered = set(feats.loc[feats["covered"], "name"])
    assert covered == syn.covered(want, 500)
    n_west = sum(1 for n in covered if int(n.split()[1].split("-")[0]) < 4)
    assert len(covered) == (16 if mode == "euclid" else 14)
    assert per.loc["西城区", "features_covered"] == n_west and per.loc["东城区", "features_covered"] == 0
    # 16 equal compounds per district share its census population (16,000) x the district's share
    # inside the extract (docs/coverage.md: only the part of a district we see gets residents)
    share = gpd.read_file(built, layer="districts").set_index("name")["extract_share"]
    per_compound = 16000 * share["西城区"] / 16
    assert 0.5 < share["西城区"] <= 1.0
    assert feats.loc[feats["covered"], "population"].sum() == pytest.approx(per_compound * n_west, rel=2e-3)
    if mode == "euclid":  # every covered compound lies wholly inside the 500 m buffer, the others outside
        assert per.loc["西城区", "population_covered"] == pytest.approx(16000 * share["西城区"], rel=1e-3)
        assert per.loc["东城区", "population_covered"] == 0
    else:  # area-based: the isochrone (reached streets + 100 m) also touches uncovered compounds
        assert per_compound * n_west <= per.loc["西城区", "population_covered"] <= 16000 * share["西城区"] + 1
    # census population (16,000 west, 32,000 east) x each district's share inside the extract
    census = {"西城区": 16000, "东城区": 32000}
    assert per.loc["(all)", "population"] == pytest.approx(sum(census[d] * share[d] for d in census), abs=1.0)


def test_synthetic_onemap_fixture(synthetic_onemap: Path) -> None:
    names = {str(n) for n, _ in pyogrio.list_layers(synthetic_onemap)}
    assert {"districts", "residential", "parks", "road_graph", "census_population"} <= names


# ------------------------------------------------------------------ bad input: one line, exit 2
def _fails(args: list, *needles: str) -> None:
    res = run(*args)
    assert res.exit_code == 2, res.output
    text = res.output.strip()
    assert len(text.splitlines()) == 1, text
    for n in needles:
        assert n in text, text


def test_bad_inputs(src: syn.SyntheticCity, tmp_path: Path) -> None:
    base = ["city", "new", "X", "--osm", src.osm, "--districts", src.districts, "--out", tmp_path / "o"]
    _fails(base + ["--name-column", "NAME99"], "NAME99", "'adcode'", "'name'")
    _fails(["city", "new", "X", "--osm", tmp_path / "missing.osm.pbf", "--districts", src.districts,
            "--out", tmp_path / "o"], "missing.osm.pbf", "not found")
    _fails(["city", "new", "X", "--osm", src.osm, "--districts", tmp_path / "nope.geojson",
            "--out", tmp_path / "o"], "nope.geojson")
    # a shapefile without .prj has no CRS
    shp = tmp_path / "nocrs.shp"
    pyogrio.write_dataframe(gpd.read_file(src.districts), shp)
    shp.with_suffix(".prj").unlink()
    _fails(["city", "new", "X", "--osm", src.osm, "--districts", shp, "--out", tmp_path / "o"],
           "no CRS", "--districts-crs")
    bad_census = tmp_path / "census.csv"
    bad_census.write_text("name,population\n南城区,5\n", encoding="utf-8")
    _fails(base + ["--census", bad_census], "南城区", "西城区")
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_refuses_existing_folder(src: syn.SyntheticCity, city: Path) -> None:
    _fails(["city", "new", "X", "--osm", src.osm, "--districts", src.districts, "--out", city],
           "--overwrite")


def test_every_command_works_on_another_city(synthetic_onemap: Path, tmp_path: Path) -> None:
    """map, report, review and export run on the second city with no code change (no Harbin
    layer such as sub-districts or the Songhua exists there)."""
    from shapely.geometry import box

    run = CliRunner().invoke
    m = tmp_path / "m.html"
    r = run(cli, ["map", "onemap", "--onemap", str(synthetic_onemap), "--out", str(m), "--offline"])
    assert r.exit_code == 0, r.output
    assert "parks" in m.read_text(encoding="utf-8")
    districts = gpd.read_file(synthetic_onemap, layer="districts")
    name = str(districts["name"].iloc[0])
    r = run(cli, ["map", "district", name, "--onemap", str(synthetic_onemap), "--out", str(tmp_path / "d.html")])
    assert r.exit_code == 0, r.output
    r = run(cli, ["report", "--district", name, "--onemap", str(synthetic_onemap), "--out",
                  str(tmp_path / "rep"), "--preset", "park-service-radius", "--format", "xlsx"])
    assert r.exit_code == 0, r.output
    # independent: the compounds of the district farther (straight line, by design) than the park's
    # service radius - 500 m for a park of 1 ha or more, else 300 m (the preset's rules) - with the
    # park's area measured here in the city's plane
    park_area = float(gpd.read_file(synthetic_onemap, layer="parks").to_crs(4548).area.iloc[0])
    assert park_area == pytest.approx(10_000, abs=5)  # 100 m x 100 m by construction
    radius = 500 if park_area >= 10_000 else 300
    west = {n for n in syn.homes() if int(n.split()[1].split("-")[0]) < 4}  # x < 800 m: 西城区
    far = {n for n, d in syn.euclid_distance().items() if n in west and d > radius}
    assert str(districts.set_index("adcode").loc["990101", "name"]) == name
    uncovered = pd.read_excel(tmp_path / "rep" / "report.xlsx", sheet_name="uncovered")
    names = uncovered[[c for c in uncovered.columns if c.startswith("名称")][0]]
    assert set(names) == far and len(far) == (6 if radius == 300 else 0)
    park = gpd.read_file(synthetic_onemap, layer="parks").geometry.iloc[0]
    site = gpd.GeoDataFrame({"name": ["inside the park"]}, geometry=[box(*park.buffer(-0.0001).bounds)], crs=4326)
    site.to_file(tmp_path / "site.geojson", driver="GeoJSON")
    r = run(cli, ["review", str(tmp_path / "site.geojson"), "--onemap", str(synthetic_onemap), "--format", "json"])
    assert r.exit_code == 1, r.output  # on a park: not a pass
    # the generic parks rule of `city new` is ``forbidden`` (needs_approval only for a park facility,
    # a project type not given here): a site inside the park fails
    assert json.loads(r.stdout)["verdict"] == "fail"
    r = run(cli, ["export", "--onemap", str(synthetic_onemap), "--out", str(tmp_path / "exp")])
    assert r.exit_code == 0, r.output
    exported = gpd.read_parquet(tmp_path / "exp" / "parks.parquet")
    parks = gpd.read_file(synthetic_onemap, layer="parks")
    assert len(exported) == len(parks) == 1 and exported["name"].tolist() == ["中心公园"]
    assert float(exported.to_crs(4548).area.iloc[0]) == pytest.approx(10_000, abs=5)
