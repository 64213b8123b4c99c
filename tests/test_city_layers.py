"""`cityplan city new` makes a complete city: buildings, metro, rail, health, school levels.

The synthetic city abroad (:mod:`synthetic_abroad`) holds 24 apartment buildings with
``building:levels``, a subway line with 3 stations, a hospital mapped as an area and two schools
tagged with ``isced:level`` / ``school:level``; the answers below follow from that design. A
second, tiny extract written here holds the edge cases of each rule (stations beside or on a line,
rail and tram, clinics inside a hospital, unparseable levels and heights, every kind of school
level) with the exact features each layer must take and the exact count of those none takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely

import synthetic_abroad as ab
from cityplan.build import build_onemap
from cityplan.catalog import load_catalog
from cityplan.city import new_city
from cityplan.city.osm import read_osm, school_level, select_layers
from cityplan.onemap import OneMap
from cli_invoke import invoke

NEW_LAYERS = ("buildings", "metro_lines", "metro_stations", "railways", "health_facilities",
              "health_facility_points")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    src = ab.write_city(root / "src")
    return new_city("São Paulo (synthetic)", osm=src.osm, districts=src.districts, census=src.census,
                    country="BR", out=root / "city")


@pytest.fixture(scope="module")
def built(city: Path) -> Path:
    return build_onemap(city=city, data=city, out=city.parent / "x.gpkg").path


def _layer(city: Path, lid: str) -> gpd.GeoDataFrame:
    return gpd.read_file(city / "osm_layers.gpkg", layer=lid)


def _local(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Representative points of ``gdf`` in the design's local metres."""
    xy = shapely.get_coordinates(gdf.to_crs(ab.WORKING_CRS).geometry.representative_point().to_numpy())
    return xy - np.array(ab.ORIGIN)


# ------------------------------------------------------------------ the synthetic city abroad
def test_city_json_counts_every_layer_and_feature(city: Path) -> None:
    s = json.loads((city / "city.json").read_text(encoding="utf-8"))
    n_homes = ab.NX * ab.NY
    assert s["layers"] == {
        "residential": n_homes, "roads": 19, "road_graph": ab.EXPECTED_EDGES, "buildings": n_homes,
        "metro_lines": 1, "metro_stations": len(ab.STATIONS), "railways": 0, "water": 1, "water_polygons": 0,
        "waterways": 0, "parks": 2, "schools": 1, "schools_points": 2, "health_facilities": 1,
        "health_facility_points": 1, "parking": 1, "parking_points": 1, "sports_facilities": 2,
        "sports_facility_points": 0, "ice_sports": 1}
    f = s["osm"]["features"]
    # nodes: a school, a parking, 3 stations; lines: 19 highway ways and the subway
    assert f["points"] == {"read": 5, "used": 5, "unused": 0}
    assert f["lines"] == {"read": 20, "used": 20, "unused": 0}
    # areas: 24 compounds + 24 buildings + 2 parks, school, sports centre, rink, hospital, parking,
    # lake and the pedestrian square (a highway area: no layer takes it)
    assert f["multipolygons"] == {"read": 57, "used": 56, "unused": 1}
    rows = {r["layer"]: r for r in s["selections"]}
    assert set(NEW_LAYERS) <= set(rows) and rows["buildings"]["osm_layer"] == "multipolygons"


def test_buildings_carry_their_levels(city: Path) -> None:
    b = _layer(city, "buildings")
    assert len(b) == ab.NX * ab.NY and (b["building"] == "apartments").all()
    assert b["levels"].dtype == float and b["height"].isna().all()  # no height is tagged
    xy = _local(b)
    ij = np.rint((xy - [70, 30]) / ab.STEP).astype(int)
    assert sorted(map(tuple, ij)) == [(i, j) for i in range(ab.NX) for j in range(ab.NY)]
    want = [ab.building_levels(i, j) for i, j in ij]
    assert b["levels"].tolist() == want
    assert b["building:levels"].tolist() == [str(v) for v in want]  # the tag as mapped, as Harbin's
    area = b.to_crs(ab.WORKING_CRS).area
    assert np.allclose(area, ab.BUILDING_SIZE**2, atol=0.5)


def test_metro_lines_and_stations(city: Path) -> None:
    lines = _layer(city, "metro_lines")
    assert lines[["name", "railway", "line"]].values.tolist() == [["Linha 1", "subway", "Linha 1"]]
    assert lines.to_crs(ab.WORKING_CRS).length.iloc[0] == pytest.approx(1300, abs=0.5)
    st = _layer(city, "metro_stations")
    assert sorted(st["name"]) == sorted(ab.STATIONS)
    assert (st["station"] == "subway").all()
    for name, x in ab.STATIONS.items():
        p = st.loc[st["name"] == name].geometry.iloc[0]
        assert np.allclose((p.x, p.y), ab.lonlat(x, ab.SUBWAY_Y), atol=2e-7), name
    assert _layer(city, "railways").empty


def test_hospital_area_becomes_a_point(city: Path) -> None:
    areas = _layer(city, "health_facilities")
    assert areas[["name", "amenity", "healthcare"]].values.tolist() == [["Hospital Municipal", "hospital",
                                                                        "hospital"]]
    pts = _layer(city, "health_facility_points")
    assert pts[["name", "from_layer"]].values.tolist() == [["Hospital Municipal", "multipolygons"]]
    x, y = _local(pts)[0]
    assert 820 < x < 980 and 250 < y < 370


def test_school_levels(city: Path) -> None:
    pts = _layer(city, "schools_points").set_index("name")
    assert pts["level"].to_dict() == {"Escola Municipal Leste": "primary", "Escola Estadual Oeste": "secondary"}
    assert (pts["amenity"] == "school").all()
    assert pts["from_layer"].to_dict() == {"Escola Municipal Leste": "points",
                                           "Escola Estadual Oeste": "multipolygons"}
    assert _layer(city, "schools")["level"].tolist() == ["secondary"]  # isced:level=2;3


def test_catalog_roles_and_licences(city: Path) -> None:
    cat = load_catalog(city / "catalog.yaml")
    for role, ids in [("buildings", ["buildings"]), ("metro_lines", ["metro_lines"]),
                      ("metro_stations", ["metro_stations"]), ("health", ["health_facility_points"]),
                      ("schools", ["schools_points"])]:
        assert [s.id for s in cat.with_role(role)] == ids, role
    assert cat.get("railways").roles == () and cat.get("health_facilities").roles == ()
    kinds = {lid: cat.get(lid).role for lid in NEW_LAYERS}
    assert kinds == {"buildings": "base", "metro_lines": "base", "metro_stations": "base", "railways": "base",
                     "health_facilities": "facility", "health_facility_points": "facility"}
    for lid in NEW_LAYERS:
        spec = cat.get(lid)
        assert (spec.licence, spec.attribution, spec.illustrative) == ("ODbL-1.0", "© OpenStreetMap contributors",
                                                                      False), lid
        assert spec.title_zh and spec.title_en and spec.style, lid
    assert "level" in cat.get("schools_points").required_columns
    assert "levels" in cat.get("buildings").required_columns


def test_the_map_builds_with_the_new_layers(city: Path, built: Path) -> None:
    om = OneMap.open(built)
    counts = json.loads((city / "city.json").read_text(encoding="utf-8"))["layers"]
    for lid in NEW_LAYERS:
        assert len(om.layer(lid)) == counts[lid], lid
    assert om.layer_id_for("health") == "health_facility_points"
    assert pd.api.types.is_float_dtype(om.layer("buildings")["levels"])


def test_coverage_weights_residents_by_building_floor_area(built: Path, tmp_path: Path) -> None:
    r = invoke("coverage", "--facilities", "parks", "--demand", "residential", "--mode", "euclid",
               "--within", "500m", "--onemap", built, "--out", tmp_path / "cov", "--no-map")
    assert r.exit_code == 0, r.output
    params = json.loads((tmp_path / "cov" / "params.json").read_text(encoding="utf-8"))
    assert params["population"].endswith("by building floor area")
    feats = pd.read_csv(tmp_path / "cov" / "per_feature.csv", encoding="utf-8-sig")
    feats = feats[feats["scenario"] == feats["scenario"].iloc[0]].set_index("name")
    assert len(feats) == ab.NX * ab.NY
    assert feats["population_source"].str.endswith("by building floor area").all()
    levels = {f"Condomínio {i}-{j}": ab.building_levels(i, j) for i in range(ab.NX) for j in range(ab.NY)}
    for name, lv in levels.items():
        assert feats.loc[name, "floor_area_m2"] == pytest.approx(ab.BUILDING_SIZE**2 * lv, abs=1.0), name
    # each district's residents (census x its share inside the extract) spread by floor area: a
    # building of 8 levels houses four times the residents of one of 2 (by land area: the same)
    share = OneMap.open(built).layer_for("districts").set_index("name")["extract_share"]
    for district, _box, pop in ab.DISTRICTS:
        mine = [n for n in levels if feats.loc[n, "district"] == district]
        assert len(mine) == 12
        total = sum(levels[n] for n in mine)
        for n in mine:
            want = pop * share[district] * levels[n] / total
            assert feats.loc[n, "population"] == pytest.approx(want, rel=5e-3), n


def test_transit_without_a_metro_configuration_stops_cleanly(built: Path, tmp_path: Path) -> None:
    """The metro layers are there, the speeds of a new city name no line: transit says so (exit 2)."""
    r = invoke("coverage", "--facilities", "parks", "--mode", "transit", "--within", "30min",
               "--onemap", built, "--out", tmp_path / "t", "--no-map")
    assert r.exit_code == 2, r.output
    assert "transit:" in r.output and "speeds.yaml" in r.output


def test_onemap_draws_the_new_layers(built: Path, tmp_path: Path) -> None:
    r = invoke("map", "onemap", "--onemap", built, "--out", tmp_path / "m.html", "--offline")
    assert r.exit_code == 0, r.output
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    for text in ("Estação Central", "Hospital Municipal", "Linha 1", "secondary"):
        assert text in html, text


# ------------------------------------------------------------------ the rules, case by case
@pytest.mark.parametrize(("tags", "level"), [
    ({"amenity": "school", "isced:level": "0"}, "kindergarten"),
    ({"amenity": "school", "isced:level": "1"}, "primary"),
    ({"amenity": "school", "isced:level": "2;3"}, "secondary"),
    ({"amenity": "school", "isced:level": "3"}, "secondary"),
    ({"amenity": "school", "isced:level": "4"}, "secondary"),  # post-secondary, not tertiary
    ({"amenity": "school", "isced:level": "6"}, "tertiary"),
    ({"amenity": "college", "isced:level": "5;6"}, "tertiary"),
    ({"amenity": "school", "isced:level": "1;2"}, "primary;secondary"),
    ({"amenity": "school", "isced:level": "1-3"}, "primary;secondary"),
    ({"amenity": "school", "isced:level": "2", "school:level": "primary"}, "secondary"),  # ISCED first
    ({"amenity": "school", "school:level": "primary"}, "primary"),
    ({"amenity": "school", "school": "secondary"}, "secondary"),
    ({"amenity": "school", "school:level": "High_School"}, "secondary"),
    ({"amenity": "kindergarten"}, "kindergarten"),
    ({"amenity": "university"}, "tertiary"),
    ({"amenity": "college"}, "tertiary"),
    ({"amenity": "school"}, None),
    ({"amenity": "school", "isced:level": "unknown"}, None),
])
def test_school_level(tags: dict[str, str], level: str | None) -> None:
    assert school_level(tags) == level


def _p(x: float, y: float) -> tuple[float, float]:
    return (10.0 + x * 1e-4, 50.0 + y * 1e-4)


def _edge_extract(path: Path) -> Path:
    """Every edge case of the selections, in one ``.osm.pbf`` (x, y in units of 1e-4 degrees)."""
    nodes: list[tuple[int, tuple[float, float], dict[str, str]]] = []
    ways: list[tuple[int, list[int], dict[str, str]]] = []

    def node(x: float, y: float, **tags: str) -> int:
        nodes.append((len(nodes) + 1, _p(x, y), tags))
        return len(nodes)

    def way(ids: list[int], tags: dict[str, str]) -> None:
        ways.append((len(ways) + 1, ids, tags))

    def area(x0: float, y0: float, x1: float, y1: float, tags: dict[str, str]) -> None:
        ids = [node(x0, y0), node(x1, y0), node(x1, y1), node(x0, y1)]
        way([*ids, ids[0]], tags)

    # rail: a light-rail line with an untyped station node on it, a main line with one too, a tram
    way([node(0, 0), node(1, 0, railway="station", name="Parada A"), node(2, 0)],
        {"railway": "light_rail", "ref": "2"})
    way([node(0, 5), node(1, 5, railway="station", name="Estação Ferroviária"), node(2, 5)],
        {"railway": "rail", "usage": "main", "name": "Linha Tronco"})
    way([node(0, 8), node(2, 8)], {"railway": "tram"})
    node(3, 0, railway="station", station="subway", name="Metrô Isolado")  # beside any line
    node(4, 0, public_transport="station", subway="yes", name="Estação Sem Trilho")
    node(5, 0, public_transport="station", name="Rodoviária")  # a bus station
    # health: a clinic inside a hospital ground, a health centre area, doctors, pharmacies
    area(10, 0, 12, 2, {"amenity": "hospital", "name": "Hospital Geral"})
    node(11, 1, amenity="clinic", name="Clínica Interna")
    area(13, 0, 14, 1, {"healthcare": "centre", "building": "yes", "name": "Posto de Saúde"})
    # a closed way tagged healthcare alone is a line to GDAL's OSM driver (healthcare is not one of
    # its area keys): counted as an unused line, not a health facility (docs/city.md)
    area(13, 3, 14, 4, {"healthcare": "laboratory", "name": "Laboratório"})
    node(15, 0, amenity="doctors", name="Consultório")
    node(16, 0, amenity="pharmacy", healthcare="pharmacy", name="Farmácia Saúde")
    node(17, 0, amenity="pharmacy", name="Drogaria")  # no healthcare tag: not a health facility
    # buildings
    area(20, 0, 21, 1, {"building": "yes", "building:levels": "3.5", "height": "12 m", "name": "B1"})
    area(22, 0, 23, 1, {"building": "house", "building:levels": "abc", "height": "40 ft", "name": "B2"})
    area(24, 0, 25, 1, {"building": "no", "name": "B3"})
    area(26, 0, 27, 1, {"building": "apartments", "name": "B4"})
    area(28, 0, 29, 1, {"building": "residential", "building:levels": "4;5", "height": "7.5", "name": "B5"})
    area(30, 0, 32, 2, {"building": "school", "amenity": "school", "isced:level": "1", "name": "B6"})
    # schools
    node(40, 0, amenity="kindergarten", name="S1")
    node(41, 0, amenity="school", **{"isced:level": "1-3"}, name="S2")
    node(42, 0, amenity="university", name="S3")
    node(43, 0, amenity="school", name="S4")
    node(44, 0, amenity="school", school="secondary", name="S5")
    node(45, 0, amenity="school", **{"isced:level": "2;3", "school:level": "primary"}, name="S6")
    with osmium.SimpleWriter(str(path)) as w:
        for i, loc, tags in nodes:
            w.add_node(osmium.osm.mutable.Node(id=i, location=loc, tags=tags, version=1))
        for i, refs, tags in ways:
            w.add_way(osmium.osm.mutable.Way(id=100 + i, nodes=refs, tags=tags, version=1))
    return path


@pytest.fixture(scope="module")
def edge_layers(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, gpd.GeoDataFrame], dict]:
    return select_layers(read_osm(_edge_extract(tmp_path_factory.mktemp("edge") / "edge.osm.pbf")))


def test_edge_cases_are_counted_exactly(edge_layers: tuple[dict[str, gpd.GeoDataFrame], dict]) -> None:
    layers, counts = edge_layers
    # tagged nodes: 5 station-ish, 4 health-ish, 6 schools; unused: the main-line station, the bus
    # station and the pharmacy without a healthcare tag
    assert counts["points"] == {"read": 15, "used": 12, "unused": 3}
    assert counts["lines"] == {"read": 4, "used": 2, "unused": 2}  # the tram, the laboratory
    assert counts["multipolygons"] == {"read": 8, "used": 7, "unused": 1}  # building=no
    assert {k: len(v) for k, v in layers.items() if k in (*NEW_LAYERS, "schools", "schools_points")} == {
        "buildings": 6, "metro_lines": 1, "metro_stations": 3, "railways": 1, "health_facilities": 2,
        "health_facility_points": 4, "schools": 1, "schools_points": 7}


def test_edge_metro_and_rail(edge_layers: tuple[dict[str, gpd.GeoDataFrame], dict]) -> None:
    layers, _ = edge_layers
    assert layers["metro_lines"][["ref", "railway", "line"]].values.tolist() == [["2", "light_rail", "2"]]
    assert sorted(layers["metro_stations"]["name"]) == ["Estação Sem Trilho", "Metrô Isolado", "Parada A"]
    assert layers["railways"][["name", "railway", "usage"]].values.tolist() == [["Linha Tronco", "rail", "main"]]


def test_edge_health(edge_layers: tuple[dict[str, gpd.GeoDataFrame], dict]) -> None:
    layers, _ = edge_layers
    assert sorted(layers["health_facilities"]["name"]) == ["Hospital Geral", "Posto de Saúde"]
    pts = layers["health_facility_points"].set_index("name")
    # the hospital holds a clinic node: not drawn twice; the health centre area becomes a point
    assert pts["from_layer"].to_dict() == {"Clínica Interna": "points", "Consultório": "points",
                                           "Farmácia Saúde": "points", "Posto de Saúde": "multipolygons"}
    centre = pts.loc["Posto de Saúde"].geometry
    assert shapely.box(*_p(13, 0), *_p(14, 1)).contains(centre)


def test_edge_buildings(edge_layers: tuple[dict[str, gpd.GeoDataFrame], dict]) -> None:
    b = edge_layers[0]["buildings"].set_index("name")
    assert list(b.index) == ["Posto de Saúde", "B1", "B2", "B4", "B5", "B6"]
    nan = np.nan
    assert b["levels"].to_dict() == pytest.approx(
        {"Posto de Saúde": nan, "B1": 3.5, "B2": nan, "B4": nan, "B5": 4.0, "B6": nan}, nan_ok=True)
    assert b["height"].to_dict() == pytest.approx(
        {"Posto de Saúde": nan, "B1": 12.0, "B2": nan, "B4": nan, "B5": 7.5, "B6": nan}, nan_ok=True)
    assert b.loc["B2", "building:levels"] == "abc" and pd.isna(b.loc["B4", "building:levels"])


def test_edge_schools(edge_layers: tuple[dict[str, gpd.GeoDataFrame], dict]) -> None:
    pts = edge_layers[0]["schools_points"].set_index("name")
    assert pts["level"].fillna("").to_dict() == {
        "S1": "kindergarten", "S2": "primary;secondary", "S3": "tertiary", "S4": "", "S5": "secondary",
        "S6": "secondary", "B6": "primary"}
    assert pts["amenity"].to_dict()["S3"] == "university" and pts.loc["B6", "from_layer"] == "multipolygons"
