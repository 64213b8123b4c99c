"""Geometry cleaning: repairs and drops are recorded, never silent."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, Polygon

from cityplan.errors import GeometryError
from cityplan.tools.geometry import Ledger, clean_geometries


def test_clean_geometries_ledger():
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    good = Polygon([(0, 0), (1, 0), (1, 1), (0, 0)])
    gdf = gpd.GeoDataFrame({"ref": list("abcde")},
                           geometry=[good, bowtie, None, Polygon(), LineString([(0, 0), (1, 1)])])
    led = Ledger()
    out = clean_geometries(gdf, geometry_type="MultiPolygon", layer="t", source="s", ledger=led,
                           ref_column="ref")
    assert list(out.ref) == ["a", "b"]
    assert set(out.geom_type) == {"MultiPolygon"} and out.is_valid.all()
    assert out.geometry.iloc[1].area == pytest.approx(0.5)
    f = led.frame()
    assert len(out) + (f.action == "dropped").sum() == len(gdf)
    assert f.set_index("ref").action.to_dict() == {"b": "repaired", "c": "dropped", "d": "dropped",
                                                   "e": "dropped"}
    assert "Self-intersection" in f.set_index("ref").reason["b"]
    assert "LineString in a MultiPolygon layer" in f.set_index("ref").reason["e"]


def test_unknown_type_and_points():
    gdf = gpd.GeoDataFrame(geometry=[Point(0, 0)])
    with pytest.raises(GeometryError, match="unknown geometry type 'Blob'"):
        clean_geometries(gdf, geometry_type="Blob", layer="t", source="s", ledger=Ledger())
    out = clean_geometries(gdf, geometry_type="Point", layer="t", source="s", ledger=Ledger())
    assert len(out) == 1
