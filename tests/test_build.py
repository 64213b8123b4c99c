"""The one-map build on the real sample data, and on small broken inputs."""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
from tests.conftest import HARBIN, feature, square, write_geojson, write_profile

from cityplan.build import build_onemap
from cityplan.catalog import load_catalog
from cityplan.errors import OutputExistsError, SchemaError
from cityplan.onemap import CATALOG_TABLE, INFO_TABLE, LEDGER_TABLE, OneMap


def test_every_catalog_layer_is_written(built, onemap):
    cat = load_catalog(HARBIN)
    names = {str(n) for n, _ in pyogrio.list_layers(onemap)}
    assert set(cat.ids) <= names
    assert {CATALOG_TABLE, LEDGER_TABLE, INFO_TABLE} <= names
    s = built.summary.set_index("layer")
    for lid in cat.ids:
        n = pyogrio.read_info(onemap, layer=lid)["features"]
        assert n == s.loc[lid, "features"] > 0, lid
    # every source feature is accounted for: written or dropped with a reason
    assert (s.source_features == s.features + s.dropped).all()
    ledger = OneMap.open(onemap).ledger
    assert len(ledger) == s.dropped.sum() + s.repaired.sum()


def test_source_counts_match_provenance(built):
    s = built.summary.set_index("layer").features
    assert s["roads"] == 10009 and s["road_graph"] == 22304 and s["residential"] == 1634
    assert s["parks"] == 743 and s["subdistricts"] == 77 and s["metro_stations"] == 73
    assert s["census_population"] == 18


def test_derived_layers(onemap):
    d = gpd.read_file(onemap, layer="districts").set_index("adcode")
    assert {"230102", "230103", "230104", "230110", "230109"} <= set(d.index)
    assert d.loc["230103", "name"] == "南岗区" and d.loc["230103", "pop_2020"] == 1390679
    assert d.loc["230109", "boundary_source"] == "fill"
    assert (d.extract_share > 0).all() and (d.extract_share <= 1).all()
    st = gpd.read_file(onemap, layer="metro_stations")
    assert st.nw_loop_phase2.sum() == 7 and st[st.nw_loop_phase2].on_line3.all()
    lines = gpd.read_file(onemap, layer="metro_lines")
    assert lines.is_line3.sum() == 1
    corr = gpd.read_file(onemap, layer="songhua_corridor")
    water = gpd.read_file(onemap, layer="songhua_water")
    assert corr.illustrative.all()
    # the band touches but does not overlap the water (areas in EPSG:4551)
    inter = corr.to_crs(4551).intersection(water.to_crs(4551).union_all()).area.sum()
    assert inter < 1.0 and corr.to_crs(4551).area.sum() > 10e6
    ice = gpd.read_file(onemap, layer="ice_sports")
    assert len(ice) >= 4 and (ice.leisure == "ice_rink").sum() >= 4


def test_catalog_table_records_provenance(onemap):
    t = OneMap.open(onemap).catalog.set_index("layer")
    assert t.loc["roads", "licence"] == "ODbL-1.0"
    assert "OpenStreetMap" in t.loc["roads", "attribution"]
    assert len(t.loc["roads", "source_sha256"]) == 64
    assert bool(t.loc["songhua_corridor", "illustrative"]) is True
    info = OneMap.open(onemap).build_info
    assert info["working_crs"] == "EPSG:4551" and info["built_at"]


def test_build_refuses_existing_output(synthetic_onemap, data):
    before = synthetic_onemap.read_bytes()
    with pytest.raises(OutputExistsError, match=rf"{synthetic_onemap.name}: output exists; pass --overwrite"):
        build_onemap(city="harbin", data=data, out=synthetic_onemap)
    assert synthetic_onemap.read_bytes() == before


def _catalog(tmp_path, extra_required: str = "[name]") -> str:
    text = f"""
layers:
  - id: sites
    title_zh: 地块
    title_en: Sites
    role: facility
    geometry: MultiPolygon
    source: {{file: sites.geojson, crs: EPSG:4326}}
    required_columns: {extra_required}
    ref_column: name
    licence: test
    attribution: test
    illustrative: true
"""
    return str(write_profile(tmp_path, text))


def test_broken_geometries_are_repaired_or_dropped_with_reasons(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[126.6, 45.7], [126.61, 45.71], [126.61, 45.7],
                                                 [126.6, 45.71], [126.6, 45.7]]]}
    write_geojson(tmp_path / "sites.geojson", [
        feature(square(126.6, 45.7), name="ok"),
        feature(bowtie, name="bowtie"),
        feature(None, name="nogeom"),
        feature({"type": "Point", "coordinates": [126.6, 45.7]}, name="point"),
    ])
    res = build_onemap(city=_catalog(tmp_path), data=tmp_path, out=tmp_path / "o.gpkg")
    row = res.summary.iloc[0]
    assert (row.source_features, row.features, row.repaired, row.dropped) == (4, 2, 1, 2)
    reasons = res.ledger.set_index("ref").reason
    assert "Self-intersection" in reasons["bowtie"]
    assert reasons["nogeom"] == "null or empty geometry"
    assert "Point in a MultiPolygon layer" in reasons["point"]
    assert OneMap.open(tmp_path / "o.gpkg").ledger.shape[0] == 3


def test_missing_column_names_file_and_fix(tmp_path):
    write_geojson(tmp_path / "sites.geojson", [feature(square(126.6, 45.7), title="x")])
    with pytest.raises(SchemaError, match=r"sites.geojson \(layer sites\): missing required column\(s\) \['name'\]"):
        build_onemap(city=_catalog(tmp_path), data=tmp_path, out=tmp_path / "o.gpkg")


def test_the_profile_is_stored_in_the_map_and_read_from_it(onemap):
    om = OneMap.open(onemap)
    prof = om.profile
    assert prof.id == "harbin" and prof.settings.country == "CN"
    assert prof.sha256 == HARBIN.sha256 == om.build_info["profile_sha256"]
    # every settings file of the shipped profile, byte for byte; sample workbooks stay outside
    assert prof.text_files() == HARBIN.text_files()
    assert "maps/task.yaml" in prof.text_files() and not any(k.endswith(".xlsx") for k in prof.text_files())
    assert load_catalog(prof).ids == load_catalog(HARBIN).ids
