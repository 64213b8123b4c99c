"""The layer catalog: the real one parses and covers the one map; bad ones are refused."""

from __future__ import annotations

import pytest

from cityplan.catalog import load_catalog
from cityplan.errors import LayerNotFoundError, SchemaError
from conftest import HARBIN

REQUIRED_IDS = {
    "districts", "subdistricts", "roads", "road_graph", "metro_lines", "metro_stations",
    "songhua_water", "songhua_centerline", "songhua_corridor", "sun_island", "parks",
    "residential", "schools", "parking", "sports_facilities", "ice_sports", "census_population",
}


def test_real_catalog():
    cat = load_catalog(HARBIN)
    assert set(cat.ids) >= REQUIRED_IDS
    assert cat.get("songhua_corridor").illustrative
    assert cat.get("metro_stations").source.crs == "gcj02"
    assert {s.role for s in cat.layers} >= {"base", "facility", "demand", "constraint"}
    for s in cat.layers:
        assert s.licence and s.attribution and s.title_zh and s.title_en
    with pytest.raises(LayerNotFoundError, match="unknown layer id 'nope'.*known ids"):
        cat.get("nope")


BASE = """
layers:
  - id: a
    title_zh: 甲
    title_en: A
    role: {role}
    geometry: Point
    source: {{file: a.geojson}}
    licence: x
    attribution: y
    illustrative: false
{extra}
"""


@pytest.mark.parametrize(("role", "extra", "match"), [
    ("bogus", "", "role 'bogus' is not one of"),
    ("base", "    colour: red", r"unknown key\(s\) \['colour'\]"),
    ("base", BASE.split("layers:")[1].format(role="base", extra=""), "duplicate layer id 'a'"),
    ("base", "    derive: {op: riverside_band, from: a}", "exactly one of 'source' or 'derive'"),
    ("plan", "", "a plan layer must list 'task_id'"),
])
def test_bad_catalogs(tmp_path, role, extra, match):
    p = tmp_path / "c.yaml"
    p.write_text(BASE.format(role=role, extra=extra), encoding="utf-8")
    with pytest.raises(SchemaError, match=match):
        load_catalog(p)


def test_missing_catalog(tmp_path):
    with pytest.raises(LayerNotFoundError, match="catalog file not found"):
        load_catalog(tmp_path / "none.yaml")
