"""A city outside China, from the data cities publish: ``city new`` -> ``build`` -> every command.

The synthetic city of :mod:`synthetic_abroad` lies near 46.63 W, 23.55 S (UTM zone 23S), with
Portuguese names, districts without adcodes and a ``;``-separated Latin-1 census with a
``pop_2022`` column. Nothing of Harbin may show: no CGCS2000 zone, no 亩, no GCJ-02 check, no
Harbin task or preset, and the profile written by ``city new`` is what the map carries.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import synthetic_abroad as ab
from cityplan.onemap import OneMap
from cli_invoke import invoke


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = ab.write_city(tmp_path_factory.mktemp("abroad-src"))
    out = tmp_path_factory.mktemp("abroad") / "sao-paulo"
    r = invoke("city", "new", "São Paulo (synthetic)", "--osm", src.osm, "--districts", src.districts,
               "--census", src.census, "--country", "BR", "--timezone", "America/Sao_Paulo", "--out", out)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def built(city: Path) -> Path:
    gpkg = city.parent / "abroad.gpkg"
    r = invoke("build", "--city", city, "--data", city, "--out", gpkg)
    assert r.exit_code == 0, r.output
    return gpkg


def test_city_new_writes_a_profile_for_the_country(city: Path) -> None:
    from cityplan.profile import load_profile

    p = load_profile(city)
    s = p.settings
    assert (s.id, s.country, s.timezone) == ("sao-paulo-synthetic", "BR", "America/Sao_Paulo")
    assert s.languages == ("en",) and s.area_units == ("m2", "ha") and s.datum_checks == ()
    for rel in ("catalog.yaml", "coverage_presets.yaml", "speeds.yaml", "review_rules.yaml", "maps/onemap.yaml"):
        assert p.has(rel), rel
    assert not p.has("tasks.yaml")  # no tasks: Harbin's register is not copied
    text = "".join(t.decode() for t in p.text_files().values())
    for harbin in ("Harbin", "哈尔滨", "松花江", "songhua", "plan_parking", "3号线"):
        assert harbin not in text, harbin


def test_build_measures_in_utm_and_reads_the_census(built: Path) -> None:
    om = OneMap.open(built)
    assert om.working_crs.to_epsg() == 32723
    assert om.profile.settings.country == "BR"
    d = om.layer_for("districts").set_index("name")
    assert d.loc["Região Oeste", "population"] == 12000 and d.loc["Região Leste", "population"] == 24000
    assert pd.isna(d.loc["Região Leste", "pop_2020"])  # a 2022 figure is not labelled 2020


def test_every_available_preset_runs(built: Path, tmp_path: Path) -> None:
    r = invoke("coverage", "presets", "--onemap", built, "--format", "json")
    assert r.exit_code == 0, r.output
    presets = [p["id"] for p in json.loads(r.stdout)]
    assert "ice-30min" not in presets and "parking-300m" in presets
    for pid in presets:
        r = invoke("coverage", "--preset", pid, "--onemap", built, "--out", tmp_path / pid, "--no-map")
        assert r.exit_code == 0, (pid, r.output)
        per = pd.read_csv(tmp_path / pid / "per_district.csv")
        assert set(per["district"]) >= {"Região Oeste", "Região Leste"}, pid


def test_maps_report_export_checkup(built: Path, tmp_path: Path) -> None:
    r = invoke("map", "onemap", "--onemap", built, "--out", tmp_path / "m.html", "--offline")
    assert r.exit_code == 0, r.output
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "Parque da Luz" in html and "Harbin" not in html and "哈尔滨" not in html
    r = invoke("map", "district", "Região Leste", "--onemap", built, "--out", tmp_path / "d.html")
    assert r.exit_code == 0, r.output
    r = invoke("report", "--district", "Região Leste", "--onemap", built, "--out", tmp_path / "rep",
               "--preset", "park-service-radius", "--format", "xlsx")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "report.xlsx").exists()
    r = invoke("export", "--onemap", built, "--out", tmp_path / "exp")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "exp" / "parks.parquet").exists()
    r = invoke("checkup", "--cities", built, "--presets", "park-service-radius", "--scheduler", "serial",
               "--out", tmp_path / "chk")
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(tmp_path / "chk" / "checkup.csv")
    assert len(rows) >= 1 and rows["preset"].eq("park-service-radius").all()


def test_a_building_across_a_park_fails_review(built: Path, tmp_path: Path) -> None:
    park = ab.PARKS["Parque da Luz"]
    across = shapely.box(park.bounds[0] + 20, park.bounds[1] - 30, park.bounds[0] + 60, park.bounds[3] + 30)
    site = gpd.GeoDataFrame({"name": ["Torre"]}, geometry=[across], crs=ab.WORKING_CRS).to_crs(4326)
    site.to_file(tmp_path / "site.geojson", driver="GeoJSON")
    r = invoke("review", tmp_path / "site.geojson", "--onemap", built, "--type", "building", "--format", "json")
    assert r.exit_code == 1, r.output
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "fail"
    assert "亩" not in r.stdout and "4551" not in r.stdout
