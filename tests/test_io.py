"""Reading users' files: encodings, CRS declarations, layers, CSVs; atomic writes."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point
from tests.conftest import feature, write_geojson

from cityplan.errors import (
    CRSMismatchError,
    EncodingError,
    GeometryError,
    LayerNotFoundError,
    MissingCRSError,
    OutputExistsError,
    SchemaError,
)
from cityplan.io import inspect_file, read_vector, write_table, write_vector


@pytest.fixture
def gbk_shapefile(tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["哈尔滨", "道里区"]}, geometry=[Point(126.6, 45.7), Point(126.62, 45.76)],
                           crs=4326)
    path = tmp_path / "gbk.shp"
    gdf.to_file(path, encoding="gbk")
    (tmp_path / "gbk.cpg").unlink()
    return path


def test_gbk_shapefile_without_cpg(gbk_shapefile):
    with pytest.raises(EncodingError, match=r"GBK read as Latin-1.*--encoding gbk"):
        read_vector(gbk_shapefile)
    gdf = read_vector(gbk_shapefile, encoding="gbk")
    assert gdf.name.tolist() == ["哈尔滨", "道里区"]
    info = inspect_file(gbk_shapefile)
    assert info["mojibake"] == "gbk" and info["features"] == 2 and info["driver"] == "ESRI Shapefile"
    assert inspect_file(gbk_shapefile, encoding="gbk")["mojibake"] is None


def test_csv_wkt_needs_declared_crs(tmp_path):
    p = tmp_path / "sites.csv"
    p.write_text("id,name,geom\n1,a,POINT(126.6 45.7)\n2,b,\n", encoding="utf-8")
    with pytest.raises(MissingCRSError, match=r"sites.csv: no CRS"):
        read_vector(p)
    gdf = read_vector(p, crs="EPSG:4326")
    assert len(gdf) == 2 and gdf.geometry.iloc[1] is None  # the empty row is kept, not lost
    p.write_text("id,geom\n1,POINT(126.6 45.7)\n2,POINT(126.6\n", encoding="utf-8")
    with pytest.raises(GeometryError, match=r"row 1 is not valid WKT"):
        read_vector(p, crs="EPSG:4326")


def test_csv_lonlat_and_swapped(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("name,lon,lat\na,45.7,126.6\n", encoding="utf-8")
    with pytest.raises(CRSMismatchError, match="swapped"):
        read_vector(p, crs="wgs84")
    q = tmp_path / "nogeom.csv"
    q.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="no geometry column"):
        read_vector(q, crs="wgs84")


def test_gcj_named_file_must_be_declared(data):
    path = data / "osm_metro_justgo/harbin_metro_stations.gcj02.geojson"
    with pytest.raises(CRSMismatchError, match="file name says GCJ-02"):
        read_vector(path)
    raw = gpd.read_file(path)
    conv = read_vector(path, crs="gcj02")
    # converted stations move ~510 m south-west
    d = conv.to_crs(4551).distance(raw.to_crs(4551))
    assert 480 < d.median() < 540


def test_layers_and_missing_files(tmp_path):
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(126.6, 45.7)], crs=4326)
    gpkg = tmp_path / "two.gpkg"
    gdf.to_file(gpkg, layer="one")
    gdf.to_file(gpkg, layer="two")
    with pytest.raises(LayerNotFoundError, match=r"holds 2 layers.*--layer"):
        read_vector(gpkg)
    with pytest.raises(LayerNotFoundError, match=r"no layer 'three'.*\['one', 'two'\]"):
        read_vector(gpkg, layer="three")
    assert len(read_vector(gpkg, layer="two")) == 1
    with pytest.raises(LayerNotFoundError, match="file not found"):
        read_vector(tmp_path / "nope.geojson")


def test_atomic_writes_refuse_overwrite(tmp_path):
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(126.6, 45.7)], crs=4326)
    out = tmp_path / "o.geojson"
    write_vector(gdf, out)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_vector(gdf, out)
    write_vector(gdf, out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.geojson"]  # no temp files left
    t = write_table(gdf.drop(columns="geometry"), tmp_path / "t.csv")
    assert t.read_text(encoding="utf-8-sig").startswith("a")


def test_geojson_legacy_crs_member_respected(tmp_path):
    p = write_geojson(tmp_path / "f.geojson", [feature({"type": "Point", "coordinates": [126.6, 45.7]})])
    assert read_vector(p).crs.to_epsg() == 4326
