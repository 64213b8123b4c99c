"""Coverage on the real sample data, checked against geopandas; 2SFCA vs brute force; bad inputs."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

import synthetic_city as syn
from cityplan.coverage import get_preset, load_presets, parse_within, run_coverage, write_coverage
from cityplan.coverage.demand import demand_population
from cityplan.coverage.fca import two_step_fca
from cityplan.errors import CoverageError
from cityplan.onemap import OneMap
from cli_invoke import invoke
from conftest import HARBIN

REQUIRED = ["district", "population", "population_covered", "population_share", "residential_area_m2",
            "residential_area_covered_m2", "area_share"]


@pytest.fixture(scope="module")
def ice(onemap):
    return run_coverage(onemap, preset="ice-30min")


def test_ice_circle_accounts_for_every_compound(ice, onemap):
    res = OneMap.coerce(onemap).layer("residential")
    assert len(ice.features) == len(res)
    assert ice.features["status"].isin(["covered", "not covered", "not covered (beyond 3x limit)",
                                        "not snapped", "unreachable: no facility on its network component"]).all()
    d = ice.districts
    assert set(REQUIRED) <= set(d.columns)
    per = d[d.district != "(all)"]
    tot = d[d.district == "(all)"].iloc[0]
    assert per.features.sum() == tot.features == len(res)
    assert per.residential_area_m2.sum() == pytest.approx(tot.residential_area_m2, rel=1e-9)
    assert per.population_covered.sum() == pytest.approx(tot.population_covered, abs=5)
    assert ((d.population_share >= 0) & (d.population_share <= 1)).all()
    assert ((d.area_share >= 0) & (d.area_share <= 1)).all()
    # the parameters actually used are reported
    assert ice.params["method"] == "walk" and ice.params["speed_kmh"] == 3.6 and ice.params["within"] == "30min"
    # covered compounds are within 30 minutes at 3.6 km/h, others not
    cov = ice.features[ice.features.covered]
    assert (cov.time_min <= 30 + 1e-9).all()
    assert (cov.distance_m <= 1800 * 1.0001 + 300).all()  # path metres + door-to-road walk
    not_cov = ice.features[ice.features.status == "not covered"]
    assert (not_cov.time_min > 30).all()


def test_dasymetric_population(ice, onemap):
    census = OneMap.coerce(onemap).layer("census_population").assign(adcode=lambda c: c.adcode.astype(str)).set_index("adcode")
    d = ice.districts[ice.districts.district != "(all)"].set_index("adcode")
    # census population x the district's area share inside the extract (tests/test_population.py)
    seen = (census.pop_2020 * d.extract_share).reindex(d.index)
    np.testing.assert_allclose(d.population, seen, rtol=1e-6, atol=1)
    assert ice.features.population_source.str.startswith("estimate").all()


def test_euclid_equals_geopandas_buffer_sjoin(onemap):
    res = run_coverage(onemap, preset="park-service-radius")
    parks = OneMap.coerce(onemap).layer("parks").to_crs(4551)
    area = parks.area
    radius = np.where(area >= 10000, 500.0, np.where(area >= 4000, 300.0, np.nan))
    buf = parks[~np.isnan(radius)].buffer(radius[~np.isnan(radius)], quad_segs=16)
    dem = OneMap.coerce(onemap).layer("residential").to_crs(4551)
    pts = gpd.GeoDataFrame(geometry=dem.representative_point(), crs=4551)
    # covered = the entrance within the park's radius, measured exactly (not inside the buffer
    # polygon, inscribed in the circle: a compound a little inside the radius between its vertices
    # is covered)
    expected = np.zeros(len(pts), bool)
    for r in (500.0, 300.0):
        hit = gpd.sjoin(pts, parks.loc[radius == r, ["geometry"]], predicate="dwithin", distance=r)
        expected |= pts.index.isin(hit.index)
    np.testing.assert_array_equal(res.features.covered.to_numpy(), expected)
    in_polygon = pts.index.isin(gpd.sjoin(pts, gpd.GeoDataFrame(geometry=buf), predicate="within").index)
    assert (expected >= in_polygon).all() and (expected & ~in_polygon).sum() <= 5
    # covered residential area = overlay with the dissolved buffers
    iso = gpd.GeoDataFrame(geometry=[buf.union_all()], crs=4551)
    ov = gpd.overlay(dem[["geometry"]].reset_index(), iso, how="intersection")
    ov_area = ov.area.groupby(ov["index"]).sum().reindex(dem.index, fill_value=0)
    np.testing.assert_allclose(res.features.covered_area_m2, ov_area, rtol=1e-6, atol=0.5)
    tot = res.districts.set_index("district").loc["(all)"]
    assert tot.area_share == pytest.approx(ov_area.sum() / dem.area.sum(), abs=1e-4)
    assert "meets_target" in res.districts.columns and res.params["radius_m"] == [300.0, 500.0]


def test_two_step_fca_equals_brute_force():
    rng = np.random.default_rng(5)
    cost = rng.uniform(0, 2000, (30, 6))
    cost[rng.random((30, 6)) < 0.1] = np.inf
    supply = rng.uniform(100, 1000, 6)
    pop = rng.uniform(0, 500, 30)
    acc, ratio = two_step_fca(cost, supply, pop, 1000)
    for j in range(6):
        served = sum(pop[k] for k in range(30) if cost[k, j] <= 1000)
        assert ratio[j] == pytest.approx(supply[j] / served if served else 0.0)
    for i in range(30):
        assert acc[i] == pytest.approx(sum(ratio[j] for j in range(6) if cost[i, j] <= 1000))
    # all supply that reaches anyone is handed out
    reached = [j for j in range(6) if (cost[:, j] <= 1000).any()]
    assert (acc * pop).sum() == pytest.approx(supply[reached].sum())


def test_capacity_2sfca_on_plan_schools(onemap):
    res = run_coverage(onemap, facilities=["plan_schools"], method="walk", within="1000m", capacity="seats",
                       demand_share=0.06)
    planned = res.scenarios["planned"].features  # plan sites only: the headline (existing) scenario has none
    acc = planned.accessibility.to_numpy()
    pop = planned.population.to_numpy() * 0.06
    assert (acc >= 0).all() and acc.max() > 0
    # 2SFCA hands out all supply that reaches anyone: the 4 schools sit in compounds, so all 8,000 seats
    assert (acc * pop).sum() == pytest.approx(8000, rel=1e-6)
    assert res.params["supply_total"] == 8000


def test_write_outputs(ice, tmp_path, onemap):
    files = write_coverage(ice, tmp_path / "c", formats=("csv", "xlsx"))
    names = {f.name for f in files}
    assert {"coverage.gpkg", "per_district.csv", "per_feature.csv", "coverage.xlsx", "params.json"} <= names
    per = pd.read_csv(tmp_path / "c" / "per_district.csv", encoding="utf-8-sig")
    assert set(REQUIRED) <= set(per.columns)
    gaps = gpd.read_file(tmp_path / "c" / "coverage.gpkg", layer="gaps")
    assert len(gaps) > 0 and (gaps.gap_area_m2 > 0).all()
    assert json.loads((tmp_path / "c" / "params.json").read_text())["preset"] == "ice-30min"
    with pytest.raises(Exception, match="--overwrite"):
        write_coverage(ice, tmp_path / "c")


def test_presets_have_citations():
    presets = load_presets(HARBIN)
    assert {"life-5min", "life-10min", "life-15min", "primary-school-500m", "middle-school-1000m",
            "park-service-radius", "fitness-15min", "ice-30min"} <= set(presets)
    for p in presets.values():
        assert len(p.citation) > 20
    assert "GB 55014-2021" in presets["park-service-radius"].citation
    assert presets["park-service-radius"].target == {"metric": "area_share", "min": 0.8}


def test_bad_inputs(synthetic_onemap, tmp_path):
    with pytest.raises(CoverageError, match=r"unknown coverage preset 'nope'.*ice-30min"):
        get_preset("nope", HARBIN)
    with pytest.raises(CoverageError, match="give a number with a unit"):
        parse_within("500")
    assert parse_within("1.5km").value == 1500 and parse_within("15min").value == 900
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type":"FeatureCollection","features":[]}', encoding="utf-8")
    with pytest.raises(CoverageError, match="have no features"):
        run_coverage(synthetic_onemap, facilities=[str(empty)], method="walk", within="500m")
    pts = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(126.6, 45.75)], crs=4326)
    with pytest.raises(CoverageError, match="no population column"):
        demand_population(pts, None, None, source="my.geojson")
    with pytest.raises(CoverageError, match="neither a layer of the one map nor a file"):
        run_coverage(synthetic_onemap, facilities=["no_such_layer"], method="walk", within="500m")


def test_disconnected_components_flagged(onemap, tmp_path):
    # a network of two far-apart pieces: the facility sits on one, the demand on the other
    from shapely.geometry import LineString

    a = [LineString([(126.60 + i * 0.001, 45.75), (126.601 + i * 0.001, 45.75)]) for i in range(30)]
    b = [LineString([(126.70 + i * 0.001, 45.70), (126.701 + i * 0.001, 45.70)]) for i in range(10)]
    net = gpd.GeoDataFrame({"highway": ["residential"] * 40}, geometry=a + b, crs=4326)
    net.to_file(tmp_path / "net.geojson")
    fac = gpd.GeoDataFrame({"name": ["f"]}, geometry=[Point(126.605, 45.7501)], crs=4326)
    fac.to_file(tmp_path / "fac.geojson")
    dem = gpd.GeoDataFrame({"name": ["near", "far"], "population": [10, 20]},
                           geometry=[Point(126.61, 45.7501), Point(126.705, 45.7001)], crs=4326)
    dem.to_file(tmp_path / "dem.geojson")
    res = run_coverage(onemap, facilities=[str(tmp_path / "fac.geojson")], demand=str(tmp_path / "dem.geojson"),
                       method="walk", within="2000m", network=str(tmp_path / "net.geojson"))
    st = dict(zip(res.features.name, res.features.status, strict=True))
    assert st["near"] == "covered"
    # demand snaps onto the main component only (piece a, 30 edges); "far" lies ~11 m from piece b
    # but ~7 km from piece a, beyond the 300 m snap: not snapped (never silently "not covered")
    assert st["far"] == "not snapped"
    assert res.features.set_index("name").loc["far", "covered"] == False  # noqa: E712 - numpy bool
    assert res.warnings


def test_cli(synthetic_onemap, tmp_path):
    # option plumbing on the synthetic city: walking 500 m covers the compounds the design says
    # (16 in a straight line, 14 on foot), so --mode and --within reach the computation
    out = tmp_path / "walk"
    args = ("coverage", "--facilities", "parks", "--within", "500m", "--mode", "walk", "--onemap", synthetic_onemap,
            "--out", out, "--no-map")
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    per = pd.read_csv(out / "per_district.csv", encoding="utf-8-sig")
    assert set(REQUIRED) <= set(per.columns) and "(all)" in set(per.district)
    total = per[(per.scenario == "existing") & (per.district == "(all)")].iloc[0]
    assert total.features_covered == len(syn.covered(syn.walk_distance(), 500)) == 14
    assert json.loads((out / "params.json").read_text(encoding="utf-8"))["method"] == "walk"
    r = invoke(*args)
    assert r.exit_code == 2 and "--overwrite" in r.stderr
    r = invoke("coverage", "presets", "--onemap", synthetic_onemap, "--format", "json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and all(p["citation"] for p in data) and all(p["available"] for p in data)
    r = invoke("coverage", "presets", "--city", "harbin", "--format", "json")
    assert r.exit_code == 0 and "ice-30min" in {p["id"] for p in json.loads(r.stdout)}
    r = invoke("coverage", "--facilities", "parks", "--within", "500", "--mode", "walk", "--onemap",
               synthetic_onemap, "--out", tmp_path / "x")
    assert r.exit_code == 2 and "unit" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "x").exists()


def test_cli_constants_match_library():
    import cityplan.cli.coverage as cc
    import cityplan.cli.maps as cm
    import cityplan.cli.review as cr
    from cityplan.coverage.presets import METHODS
    from cityplan.maps.basemaps import BASEMAPS
    from cityplan.review.check import IMPACT_PRESETS

    assert tuple(METHODS) == cc.METHODS and tuple(BASEMAPS) == cm.BASEMAPS
    assert set(cr.IMPACT_TYPES) == set(IMPACT_PRESETS)


def test_cached_graph_and_demand_give_the_same_answer(ice, onemap):
    # the first run cached the graph and the prepared demand inside the store, keyed by the build;
    # nothing is written beside the one map
    import sqlite3

    assert not [p for p in onemap.parent.iterdir() if p.suffix in (".npz", ".pkl", ".pickle")]
    with sqlite3.connect(onemap) as con:
        keys = dict(con.execute("SELECT key, build FROM cityplan_cache").fetchall())
    build = OneMap.open(onemap).build_stamp
    assert keys.get("graph:road_graph") == build and keys.get("demand:residential:census") == build
    again = run_coverage(onemap, preset="ice-30min")
    pd.testing.assert_frame_equal(again.districts, ice.districts)
    assert (again.features.status.to_numpy() == ice.features.status.to_numpy()).all()


def test_nothing_read_can_execute_code():
    """No pickle anywhere in the library: caches are plain arrays inside the store."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    bad = [f"{p}:{i}" for p in src.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"\bimport pickle\b|pickle\.load|allow_pickle\s*=\s*True|\bdill\b|joblib\.load", line)]
    assert bad == []
