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
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import synthetic_abroad as ab
from cityplan.onemap import OneMap
from cli_invoke import invoke
from test_walk_access import OSMNX_WALK, _Ways, nx_walk_graph, overpass_allows


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> ab.AbroadCity:
    return ab.write_city(tmp_path_factory.mktemp("abroad-src"))


@pytest.fixture(scope="module")
def city(sources: ab.AbroadCity, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = sources
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
    x0, y0 = ab.ORIGIN  # local metres -> UTM 23S
    across = shapely.box(x0 + park.bounds[0] + 20, y0 + park.bounds[1] - 30, x0 + park.bounds[0] + 60,
                         y0 + park.bounds[3] + 30)
    site = gpd.GeoDataFrame({"name": ["Torre"]}, geometry=[across], crs=ab.WORKING_CRS).to_crs(4326)
    site.to_file(tmp_path / "site.geojson", driver="GeoJSON")
    r = invoke("review", tmp_path / "site.geojson", "--onemap", built, "--type", "building", "--format", "json")
    assert r.exit_code == 1, r.output
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "fail"
    assert "亩" not in r.stdout and "4551" not in r.stdout


def _segments(osm: Path) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Walkable OSM way segments (node ids, end points in UTM 23S) read with pyosmium, osmnx rules."""
    h = _Ways()
    h.apply_file(str(osm), locations=True)
    to_utm = Transformer.from_crs("EPSG:4326", ab.WORKING_CRS, always_xy=True)
    out = []
    for tags, nodes in h.ways:
        if not overpass_allows(OSMNX_WALK, tags):
            continue
        x, y = to_utm.transform([n[1] for n in nodes], [n[2] for n in nodes])
        out += [(nodes[k][0], nodes[k + 1][0], np.array([x[k], y[k]]), np.array([x[k + 1], y[k + 1]]))
                for k in range(len(nodes) - 1)]
    return out


def _snap(p: np.ndarray, segs: list) -> tuple[int, float, float]:
    """(segment index, metres along it from its first node, metres off the way) of the nearest segment."""
    best = None
    for i, (_, _, a, b) in enumerate(segs):
        ab_ = b - a
        t = float(np.clip(np.dot(p - a, ab_) / np.dot(ab_, ab_), 0, 1))
        off = float(np.hypot(*(a + t * ab_ - p)))
        if best is None or off < best[2] - 1e-9:
            best = (i, t * float(np.hypot(*ab_)), off)
    assert best is not None
    return best


def test_walk_coverage_equals_networkx_with_osmnx_access_rules(sources: ab.AbroadCity, built: Path,
                                                               tmp_path: Path) -> None:
    """Per compound, the walking distance to the nearest school equals a networkx search on a graph
    built here from the extract with osmnx's walk filter (points join the nearest walkable way
    perpendicularly; the joining metres count), and coverage within 500 m follows from it."""
    import networkx as nx

    osm = sources.osm
    segs = _segments(osm)
    g = nx_walk_graph(osm, lambda tags: overpass_allows(OSMNX_WALK, tags))
    om = OneMap.open(built)
    to_utm = Transformer.from_crs("EPSG:4326", ab.WORKING_CRS, always_xy=True)
    schools = om.layer("schools_points")
    schools = schools[schools["amenity"] == "school"]
    homes = om.layer("residential")

    on_segment: list[tuple[int, float, float]] = []  # schools' snaps: a home on the same way piece

    def attach(graph: nx.Graph, key: str, xy: np.ndarray) -> None:
        i, along, off = _snap(xy, segs)
        on_segment.append((i, along, off))
        u, v, a, b = segs[i]
        length = float(np.hypot(*(b - a)))
        graph.add_edge(key, u, weight=off + along)
        graph.add_edge(key, v, weight=off + length - along)

    g2 = g.copy()
    for k, pt in enumerate(schools.geometry):
        attach(g2, f"school{k}", np.array(to_utm.transform(pt.x, pt.y)))
    g2.add_node("schools")
    for k in range(len(schools)):
        g2.add_edge("schools", f"school{k}", weight=0.0)
    dist = nx.single_source_dijkstra_path_length(g2, "schools", weight="weight")
    want = {}
    for name, poly in zip(homes["name"], homes.geometry, strict=True):
        p = shapely.point_on_surface(poly)
        i, along, off = _snap(np.array(to_utm.transform(p.x, p.y)), segs)
        u, v, a, b = segs[i]
        length = float(np.hypot(*(b - a)))
        via_nodes = min(dist.get(u, np.inf) + along, dist.get(v, np.inf) + length - along)
        same_piece = min((abs(along - a2) + o2 for i2, a2, o2 in on_segment if i2 == i), default=np.inf)
        want[name] = off + min(via_nodes, same_piece)
    r = invoke("coverage", "--facilities", "schools_points", "--demand", "residential", "--mode", "walk",
               "--within", "500m", "--onemap", built, "--out", tmp_path / "cov", "--no-map")
    assert r.exit_code == 0, r.output
    feats = pd.read_csv(tmp_path / "cov" / "per_feature.csv")
    got = dict(zip(feats["name"], feats["distance_m"], strict=True))
    assert set(got) == set(want) and len(want) == 24
    for name, d in want.items():
        assert got[name] == pytest.approx(d, abs=0.5), name
    assert set(feats.loc[feats["covered"], "name"]) == {n for n, d in want.items() if d <= 500}


def test_serve_the_city_review_desk_and_ogc(built: Path, tmp_path: Path) -> None:
    """The shared service on the city abroad: OGC API items, the map page, and a review on the desk."""
    import shutil

    from server_process import PASSWORD, cityplan, login, start, token

    loc = str(tmp_path / "abroad.gpkg")
    shutil.copy(built, loc)
    r = cityplan("users", "add", "rev", "--role", "reviewer", "--password-stdin", "--onemap", loc,
                 stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    s = start(loc, tmp_path)
    try:
        rev = login(s.url, "rev")
        items = rev.get("/ogc/collections/parks/items", params={"f": "json"}).json()
        assert {f["properties"]["name"] for f in items["features"]} >= {"Parque da Luz"}
        assert rev.get("/").status_code == 200
        park = ab.PARKS["Parque da Luz"]
        x0, y0 = ab.ORIGIN
        across = shapely.box(x0 + park.bounds[0] + 20, y0 + park.bounds[1] - 30, x0 + park.bounds[0] + 60,
                             y0 + park.bounds[3] + 30)
        site = gpd.GeoDataFrame({"name": ["Torre"], "type": ["building"]}, geometry=[across],
                                crs=ab.WORKING_CRS).to_crs(4326)
        body = site.to_json().encode()
        tok = token(rev.get("/review").text)
        r = rev.post("/review", data={"csrf_token": tok, "project_type": "building"},
                     files={"file": ("torre.geojson", body)})
        assert r.status_code == 303, r.text[:300]
        page = rev.get(r.headers["location"]).text
        assert 'class="cp-verdict-fail"' in page and "EPSG:32723" in page and "亩" not in page
    finally:
        s.stop()
