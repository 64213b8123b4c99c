"""Hostile and careless inputs: CSV encodings, empty/ragged files, damaged GeoPackages, odd geometries.

Every case gives one CityplanError line (or, for ``inspect``, a listed problem), never a traceback.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import GeometryCollection, LineString, Point, Polygon
from tests.conftest import feature, write_geojson

from cityplan.convert import convert_file
from cityplan.errors import CityplanError, EncodingError, GeometryError, SchemaError
from cityplan.io import detect_mojibake, inspect_file, read_vector


def _csv(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_gbk_csv_without_encoding_is_detected(tmp_path):
    p = _csv(tmp_path, "gbk.csv", "名称,经度,纬度\n哈尔滨工业大学,126.63,45.75\n".encode("gbk"))
    gdf = read_vector(p, crs="wgs84")
    assert gdf.name.tolist() == ["哈尔滨工业大学"]
    assert inspect_file(p)["encoding"] == "gbk"


def test_csv_failures_are_one_line(tmp_path):
    cases = {
        "latin.csv": ("name,lon,lat\nCaf\xe9 \xe0 la cr\xe8me,126.6,45.7\n".encode("latin-1"),
                      EncodingError, r"line 2 is not UTF-8 .*--encoding latin-1"),
        "empty.csv": (b"", CityplanError, r"empty \(0 bytes\)"),
        "blank.csv": (b"\xef\xbb\xbf\n\n", SchemaError, r"empty"),
        "ragged.csv": (b"name,lon,lat\na,126.6,45.7\nb,126.7,45.8,extra\n", SchemaError,
                       r"line 3 \(row 1\) has 4 fields but the header has 3"),
        "short.csv": (b"name,lon,lat\na,126.6\n", SchemaError, r"line 2 \(row 0\) has 2 fields"),
    }
    for name, (data, err, pattern) in cases.items():
        p = _csv(tmp_path, name, data)
        with pytest.raises(err, match=pattern) as exc:
            read_vector(p, crs="wgs84")
        assert "\n" not in str(exc.value) and name in str(exc.value)
        info = inspect_file(p)
        assert info["problems"] and info["fields"] == {}, name
    ok = _csv(tmp_path, "ok.csv", b"name,lon,lat\na,126.6,45.7\n")
    with pytest.raises(EncodingError, match=r"--encoding 'gbkk': unknown text encoding; use one of utf-8, gbk"):
        read_vector(ok, crs="wgs84", encoding="gbkk")
    assert inspect_file(ok, encoding="gbkk")["problems"]
    assert read_vector(ok, crs="wgs84", encoding="latin-1").name.tolist() == ["a"]


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\x00" * 50, b"hello, not a geopackage\n"])
def test_damaged_gpkg_inputs(tmp_path, content):
    good = tmp_path / "good.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(126.6, 45.7)], crs=4326).to_file(good)
    for name, data in (("bad.gpkg", content), ("trunc.gpkg", good.read_bytes()[:3000])):
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(CityplanError) as exc:
            read_vector(p)
        assert "\n" not in str(exc.value) and name in str(exc.value)
        assert inspect_file(p)["problems"]


def test_accents_are_not_mojibake(tmp_path):
    assert detect_mojibake(["Crème brûlée", "Hélène", "Ærø"]) is None
    assert detect_mojibake(["哈尔滨".encode("gbk").decode("latin-1")]) == "gbk"
    p = write_geojson(tmp_path / "cafe.geojson", [feature({"type": "Point", "coordinates": [126.6, 45.7]},
                                                           name="Crème brûlée chez Hélène")])
    assert read_vector(p).name.tolist() == ["Crème brûlée chez Hélène"]
    shp = tmp_path / "cafe.shp"  # accents in a DBF with a .cpg are fine too
    gpd.GeoDataFrame({"name": ["Hélène"]}, geometry=[Point(126.6, 45.7)], crs=4326).to_file(shp)
    assert read_vector(shp).name.tolist() == ["Hélène"]


def _gpkg(tmp_path, geoms, name="g.gpkg"):
    p = tmp_path / name
    gdf = gpd.GeoDataFrame({"i": range(len(geoms))}, geometry=geoms, crs=4326)
    pyogrio.write_dataframe(gdf, p, layer="g", driver="GPKG")
    return p


def test_collections_z_and_nan(tmp_path):
    sq = Polygon([(126.6, 45.7), (126.601, 45.7), (126.601, 45.701), (126.6, 45.701)])
    p = _gpkg(tmp_path, [GeometryCollection([sq, LineString([(126.6, 45.7), (126.61, 45.71)])]),
                         GeometryCollection([sq]), shapely.force_3d(sq, 12.0)])
    gdf = read_vector(p)
    assert gdf.geom_type.tolist() == ["MultiPolygon", "MultiPolygon", "Polygon"]
    assert not gdf.has_z.any()
    expected = gpd.GeoSeries([sq], crs=4326).to_crs(4551).area.iloc[0]
    assert gdf.to_crs(4551).area.tolist() == pytest.approx([expected] * 3)
    mixed = _gpkg(tmp_path, [Point(126.6, 45.7), GeometryCollection([Point(126.6, 45.7),
                                                                      LineString([(126.6, 45.7), (126.7, 45.8)])])],
                  name="mixed.gpkg")
    with pytest.raises(GeometryError, match=r"row 1 is a GeometryCollection of \['LineString', 'Point'\]"):
        read_vector(mixed)
    nan = _gpkg(tmp_path, [Point(126.6, 45.7), LineString([(126.6, 45.7), (np.nan, 45.8)]),
                           Point(np.inf, 45.7)], name="nan.gpkg")
    with pytest.raises(GeometryError, match=r"2 feature\(s\) have NaN or infinite coordinates \(rows \[1, 2\]\)"):
        read_vector(nan)


def test_convert_to_gpkg_names_the_layer(tmp_path):
    src = write_geojson(tmp_path / "in.geojson", [feature({"type": "Point", "coordinates": [126.6, 45.7]}, n=1)])
    out = convert_file(src, tmp_path / "红线 2024.gpkg", dst_crs="EPSG:4551")
    assert [n for n, _ in pyogrio.list_layers(out.path)] == ["红线 2024"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.geojson", "红线 2024.gpkg"]


@pytest.fixture(scope="module")
def gcj_reference(onemap):
    from cityplan.validate import Gcj02Reference

    return Gcj02Reference(gpd.read_file(onemap, layer="roads"))


@pytest.mark.parametrize("layer", ["schools", "parks", "residential", "road_graph", "parking_points",
                                   "schools_points"])
def test_gcj02_detector_on_sample_layers(onemap, gcj_reference, layer):
    """Real WGS84 layers are never called GCJ-02; their GCJ-shifted copies never pass as WGS84."""
    from cityplan.crs import convert_datum
    from cityplan.validate import detect_gcj02

    gdf = gpd.read_file(onemap, layer=layer).to_crs(4326)
    stored = detect_gcj02(gdf, gcj_reference)
    shifted = detect_gcj02(convert_datum(gdf, "EPSG:4326", "gcj02"), gcj_reference)
    assert stored.verdict != "gcj02" and shifted.verdict != "wgs84", (stored, shifted)
    if layer not in ("schools", "schools_points"):  # decided both ways on these
        assert (stored.verdict, shifted.verdict) == ("wgs84", "gcj02"), (stored, shifted)
        assert shifted.median_unshifted_m < 0.8 * shifted.median_as_read_m
