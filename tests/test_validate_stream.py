"""``layers validate`` on a large file: fiona streams the records; the findings equal those of the whole read."""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely.geometry import LineString, Point, Polygon

from cityplan.validate import validate_file

BBOX = (126.4, 45.6, 126.9, 45.9)


def _problem_file(path):
    geoms = [Point(126.60 + i * 1e-4, 45.75).buffer(1e-4) for i in range(50)]
    geoms[3] = None                                                     # null
    geoms[7] = Polygon()                                                # empty
    geoms[11] = LineString([(126.6, 45.7), (126.61, 45.71)])           # wrong family for a facility
    geoms[19] = Polygon([(126.6, 45.7), (126.61, 45.71), (126.61, 45.7), (126.6, 45.71)])  # bow-tie
    geoms[23] = Point(116.4, 39.9).buffer(1e-3)                         # Beijing: outside the study area
    geoms[29] = Point(116.5, 39.9).buffer(1e-3)
    gdf = gpd.GeoDataFrame({"name": [f"f{i}" for i in range(50)]}, geometry=geoms, crs=4326)
    gdf.to_file(path, driver="GPKG")
    return path


def _key(rep):
    return sorted((f.level, -1 if f.row is None else f.row, f.message) for f in rep.findings), rep.features


def test_streamed_findings_equal_whole_read(tmp_path):
    src = _problem_file(tmp_path / "big.gpkg")
    whole = validate_file(src, role="facility", bbox=BBOX, required=("capacity",), stream=False)
    streamed = validate_file(src, role="facility", bbox=BBOX, required=("capacity",), stream=True)
    assert _key(streamed) == _key(whole)
    rows = {f.row for f in streamed.findings}
    assert {3, 7, 11, 19} <= rows and streamed.features == 50
    assert any("2 feature(s) entirely outside" in f.message and f.row == 23 for f in streamed.findings)
    assert any("capacity" in f.message for f in streamed.findings) and not streamed.ok


def test_streamed_in_another_crs_and_without_crs(tmp_path):
    src = _problem_file(tmp_path / "a.gpkg")
    metric = tmp_path / "m.gpkg"
    gpd.read_file(src).to_crs(4551).to_file(metric, driver="GPKG")
    a = validate_file(src, role="facility", bbox=BBOX, stream=True)
    b = validate_file(metric, role="facility", bbox=BBOX, stream=True)
    assert [(f.level, f.row) for f in sorted(a.findings, key=lambda f: (f.row or -1, f.level))] == \
        [(f.level, f.row) for f in sorted(b.findings, key=lambda f: (f.row or -1, f.level))]
    # a shapefile without .prj has no CRS at all
    shp = tmp_path / "bare.shp"
    gpd.GeoDataFrame(geometry=[shapely.Point(500000, 5000000)]).to_file(shp)
    rep = validate_file(shp, role="facility", stream=True)
    assert not rep.ok and "--crs" in rep.findings[0].message
    assert validate_file(shp, role="facility", crs="4551", stream=True).ok
