"""Files planning offices exchange: 界址点 TXT, DXF, XLSX/CSV point lists, KML/KMZ, zipped shapefiles.

Every file is generated here; areas and positions are checked against figures known by
construction and against an independent pyproj/shapely computation.
"""

from __future__ import annotations

import stat
import zipfile

import ezdxf
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon

from cityplan.crs import wgs84_to_gcj02
from cityplan.errors import (
    EncodingError,
    GeometryError,
    LayerNotFoundError,
    MissingCRSError,
)
from cityplan.io import inspect_file, read_vector
from cityplan.io.archive import MAX_MEMBERS, UnsafeArchiveError

E0, N0 = 500_000.0, 5_070_000.0  # a spot in zone 42 (CM 126E), central Harbin
TO_GEO = Transformer.from_crs(4551, 4326, always_xy=True)


def _square(e: float, n: float, d: float) -> list[tuple[float, float]]:
    return [(e, n), (e + d, n), (e + d, n + d), (e, n + d)]


def _jzd(prefix: bool, *, declared_b: str = "4.0000") -> str:
    pre = 42_000_000.0 if prefix else 0.0
    lines = ["[属性描述]", "格式版本号=1.01版本", "坐标系=2000国家大地坐标系", "几度分带=3",
             "投影类型=高斯克吕格", "计量单位=米", "带号=42", "精度=0.01", "[地块坐标]"]

    def ring(pts, no, start):
        out = [f"J{start + i},{no},{n:.3f},{e + pre:.3f}" for i, (e, n) in enumerate(pts)]
        return [*out, f"J{start},{no},{pts[0][1]:.3f},{pts[0][0] + pre:.3f}"]  # closing point

    a = _square(E0, N0, 100.0)
    lines += ["5,1.0000,D001,一号地块,面,,商业用地,0501,@", *ring(a, 1, 1)]
    b_out, b_hole = _square(E0 + 300, N0, 200.0), _square(E0 + 375, N0 + 75, 50.0)
    lines += [f"10,{declared_b},D002,二号地块,面,,公园绿地,1401,@", *ring(b_out, 1, 1), *ring(b_hole, 2, 5)]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize("prefix", [True, False])
def test_jzd_gbk_two_parcels_with_hole(tmp_path, prefix):
    p = tmp_path / "报批地块.txt"
    p.write_bytes(_jzd(prefix).encode("gbk"))
    gdf = read_vector(p)
    assert gdf.name.tolist() == ["一号地块", "二号地块"] and gdf.parcel_id.tolist() == ["D001", "D002"]
    assert gdf.land_use.tolist() == ["商业用地", "公园绿地"]
    # the areas known by construction: 100 m square; 200 m square minus a 50 m hole
    assert gdf.area_m2.tolist() == pytest.approx([10_000.0, 37_500.0], abs=0.01)
    assert len(gdf.geometry.iloc[1].interiors) == 1
    # independent: back to the zone's plane through pyproj gives the same areas
    assert gdf.to_crs(4551).area.tolist() == pytest.approx([10_000.0, 37_500.0], rel=1e-6)
    # declared 1 ha matches; 4 ha for 3.75 ha is a 6.7 % mismatch, reported
    assert gdf.area_warning.iloc[0] == "" and gdf.area_unit.iloc[0] == "ha"
    assert "+6.7%" in gdf.area_warning.iloc[1]
    lon, lat = TO_GEO.transform(E0, N0)
    assert gdf.geometry.iloc[0].exterior.coords[0] == pytest.approx((lon, lat), abs=1e-7)


def test_jzd_without_zone_needs_crs(tmp_path):
    text = _jzd(False).replace("带号=42\r\n", "")
    p = tmp_path / "nozone.txt"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(MissingCRSError, match=r"nozone.txt: .*--crs EPSG:4551"):
        read_vector(p)
    assert read_vector(p, crs="EPSG:4551").area_m2.iloc[0] == pytest.approx(10_000.0)
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace("J2,1,", "J2,1,abc", 1), encoding="utf-8")
    with pytest.raises(GeometryError, match=r"line \d+: X \(northing\) 'abc"):
        read_vector(bad, crs="EPSG:4551")


def _dxf(path, *, prefix: float = 0.0):
    doc = ezdxf.new()
    msp = doc.modelspace()
    for name in ("红线", "道路", "绿地", "标注"):
        doc.layers.add(name)
    sq = [(e + prefix, n) for e, n in _square(E0, N0, 100.0)]
    msp.add_lwpolyline(sq, close=True, dxfattribs={"layer": "红线"})
    msp.add_lwpolyline([(E0 + prefix, N0 - 20), (E0 + 400 + prefix, N0 - 20)], dxfattribs={"layer": "道路"})
    h = msp.add_hatch(dxfattribs={"layer": "绿地"})
    h.paths.add_polyline_path([(e + prefix, n) for e, n in _square(E0 + 300, N0, 200.0)], is_closed=True)
    h.paths.add_polyline_path([(e + prefix, n) for e, n in _square(E0 + 375, N0 + 75, 50.0)], is_closed=True)
    msp.add_point((E0 + 50 + prefix, N0 + 50), dxfattribs={"layer": "标注"})
    msp.add_text("一号地块", dxfattribs={"layer": "标注"})
    doc.saveas(path)
    return path


def test_dxf_polygons_lines_hatch_layers(tmp_path):
    p = _dxf(tmp_path / "总图.dxf")
    with pytest.raises(MissingCRSError, match="a DXF has no coordinate system; declare the drawing's CRS with --crs"):
        read_vector(p)
    gdf = read_vector(p, crs="EPSG:4551")
    by = gdf.set_index("layer")
    assert set(gdf.layer) == {"红线", "道路", "绿地", "标注"}
    area = gdf.to_crs(4551).set_index("layer").area
    assert by.loc["红线"].geometry.geom_type == "Polygon" and area["红线"] == pytest.approx(10_000.0, rel=1e-6)
    assert by.loc["绿地"].geometry.geom_type == "Polygon" and area["绿地"] == pytest.approx(37_500.0, rel=1e-6)
    assert by.loc["道路"].geometry.geom_type == "LineString"
    assert by.loc["标注"].geometry.geom_type == "Point"  # the TEXT is counted, not drawn
    assert len(read_vector(p, crs="EPSG:4551", layer="红线")) == 1
    assert inspect_file(p)["layers"] == ["标注", "红线", "绿地", "道路"]
    zoned = _dxf(tmp_path / "zoned.dxf", prefix=42_000_000.0)
    with pytest.raises(MissingCRSError, match=r"zone 42 .*EPSG:4530.*--crs EPSG:4530"):
        read_vector(zoned)
    z = read_vector(zoned, crs="EPSG:4530")
    assert z.to_crs(4551).set_index("layer").area["红线"] == pytest.approx(10_000.0, rel=1e-6)


WGS = [(126.6354, 45.7560), (126.6801, 45.7702)]


def test_point_tables_chinese_headers(tmp_path):
    names = ["学校甲", "学校乙"]
    # WGS84 degrees, XLSX, needs a declared datum
    x = tmp_path / "点位.xlsx"
    pd.DataFrame({"名称": names, "经度": [p[0] for p in WGS], "纬度": [p[1] for p in WGS]}).to_excel(x, index=False)
    with pytest.raises(MissingCRSError, match="--crs wgs84 .*--crs gcj02"):
        read_vector(x)
    w = read_vector(x, crs="wgs84")
    assert w.name.tolist() == names and np.allclose(np.c_[w.geometry.x, w.geometry.y], WGS)
    # GCJ-02 degrees in a GBK CSV with lng/lat headers: converted back to WGS84
    glon, glat = wgs84_to_gcj02(np.array([p[0] for p in WGS]), np.array([p[1] for p in WGS]))
    c = tmp_path / "amap.csv"
    pd.DataFrame({"名称": names, "lng": glon, "lat": glat}).to_csv(c, index=False, encoding="gbk")
    g = read_vector(c, crs="gcj02")
    assert np.allclose(np.c_[g.geometry.x, g.geometry.y], WGS, atol=1e-7)
    # zone-prefixed GK, survey X = northing / Y = easting: zone 42 detected (EPSG:4530)
    e, n = Transformer.from_crs(4326, 4530, always_xy=True).transform(*zip(*WGS, strict=True))
    k = tmp_path / "测量点.csv"
    pd.DataFrame({"名称": names, "X": n, "Y": e}).to_csv(k, index=False)
    gk = read_vector(k)
    assert np.allclose(np.c_[gk.geometry.x, gk.geometry.y], WGS, atol=1e-7)
    # 东坐标/北坐标 without prefix: the zone must be declared
    q = tmp_path / "plain.csv"
    pd.DataFrame({"名称": names, "东坐标": np.array(e) - 42e6, "北坐标": n}).to_csv(q, index=False)
    with pytest.raises(MissingCRSError, match="without zone prefix.*--crs EPSG:4551"):
        read_vector(q)
    assert np.allclose(np.c_[read_vector(q, crs="EPSG:4551").geometry.x], np.c_[[p[0] for p in WGS]])


def test_point_table_bad_rows_named(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("名称,经度,纬度\n甲,126.6,45.7\n乙,126°38',45.7\n丙,,\n丁,126.7,\n", encoding="utf-8")
    with pytest.raises(GeometryError, match=r"'经度' .*row 1 \(line 3\) \"126°38'\""):
        read_vector(p, crs="wgs84")
    p.write_text("名称,经度,纬度\n甲,126.6,45.7\n丙,,\n丁,126.7,\n", encoding="utf-8")
    with pytest.raises(GeometryError, match=r"only one of .*row 2 \(line 4\)"):
        read_vector(p, crs="wgs84")
    p.write_text("名称,经度,纬度\n甲,126.6,45.7\n丙,,\n", encoding="utf-8")
    gdf = read_vector(p, crs="wgs84")
    assert len(gdf) == 2 and gdf.geometry.iloc[1] is None  # kept, reported by validation


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder><name>红线</name>
<Placemark><name>地块一</name><Polygon><outerBoundaryIs><LinearRing><coordinates>
{coords}
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Folder></Document></kml>"""


def _kml_text() -> str:
    pts = [TO_GEO.transform(e, n) for e, n in _square(E0, N0, 100.0)]
    return KML.format(coords=" ".join(f"{x:.9f},{y:.9f},0" for x, y in [*pts, pts[0]]))


def test_kml_kmz(tmp_path):
    k = tmp_path / "红线.kml"
    k.write_text(_kml_text(), encoding="utf-8")
    gdf = read_vector(k)
    assert gdf.Name.tolist() == ["地块一"] and not gdf.has_z.any()
    assert gdf.to_crs(4551).area.iloc[0] == pytest.approx(10_000.0, rel=1e-5)
    z = tmp_path / "红线.kmz"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", _kml_text())
        zf.writestr("files/icon.png", b"\x89PNG")
    assert read_vector(z).to_crs(4551).area.iloc[0] == pytest.approx(10_000.0, rel=1e-5)


def _shapefile_zip(tmp_path, *, encoding="utf-8", cpg=True):
    pts = [TO_GEO.transform(e, n) for e, n in _square(E0, N0, 100.0)]
    gdf = gpd.GeoDataFrame({"名称": ["地块一"]}, geometry=[Polygon(pts)], crs=4326)
    d = tmp_path / "shp"
    d.mkdir(exist_ok=True)
    gdf.to_file(d / "parcel.shp", encoding=encoding)
    z = tmp_path / "parcel.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in d.iterdir():
            if cpg or f.suffix != ".cpg":
                zf.write(f, f"parcel/{f.name}")
    return z


def test_zipped_shapefile(tmp_path):
    z = _shapefile_zip(tmp_path)
    gdf = read_vector(z)
    assert gdf["名称"].tolist() == ["地块一"]
    assert gdf.to_crs(4551).area.iloc[0] == pytest.approx(10_000.0, rel=1e-5)
    assert inspect_file(z)["features"] == 1
    g = _shapefile_zip(tmp_path / "g" if (tmp_path / "g").mkdir() is None else tmp_path, encoding="gbk", cpg=False)
    with pytest.raises(EncodingError, match="--encoding gbk"):
        read_vector(g)
    assert read_vector(g, encoding="gbk")["名称"].tolist() == ["地块一"]
    assert not list(tmp_path.glob("cityplan-zip-*"))


def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def test_hostile_zips_refused(tmp_path):
    link = zipfile.ZipInfo("parcel.shp")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    cases = {
        "traversal": [("../../evil.shp", b"x"), ("../../evil.dbf", b"x")],
        "absolute": [("/etc/evil.shp", b"x")],
        "symlink": [(link, "/etc/passwd")],
        "bomb": [("parcel.shp", b"\0" * (64 * 1024**2))],
        "many": [(f"f{i}.txt", b"") for i in range(MAX_MEMBERS + 1)],
    }
    why = {"traversal": r"\.\.", "absolute": "absolute path", "symlink": "symbolic link",
           "bomb": "compression ratio", "many": "more than the 1000"}
    for name, members in cases.items():
        z = _zip(tmp_path / f"{name}.zip", members)
        with pytest.raises(UnsafeArchiveError, match=why[name]):
            read_vector(z)
        assert inspect_file(z)["problems"], name  # diagnosed, not raised
    assert not (tmp_path.parent / "evil.shp").exists()
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(LayerNotFoundError, match="not a readable zip"):
        read_vector(junk)


def test_every_reader_feeds_validate_and_convert(tmp_path):
    from cityplan.convert import convert_file
    from cityplan.validate import validate_file

    p = tmp_path / "报批.txt"
    p.write_bytes(_jzd(True).encode("gbk"))
    rep = validate_file(p, role="constraint")
    assert rep.ok and rep.features == 2
    res = convert_file(p, tmp_path / "out.gpkg", dst_crs="EPSG:4551")
    back = gpd.read_file(res.path, layer="out")
    assert back.area.round(2).tolist() == [10_000.0, 37_500.0]
    d = _dxf(tmp_path / "d.dxf")
    assert not validate_file(d, role="constraint").ok  # no CRS: an error finding, not a crash
    # with the drawing's CRS declared: the red line layer validates (one polygon); the whole drawing
    # has exactly one finding, the label point on 标注 a constraint may not hold
    rep = validate_file(d, role="constraint", crs="EPSG:4551", layer="红线")
    assert rep.ok and rep.features == 1
    rep = validate_file(d, role="constraint", crs="EPSG:4551")
    assert rep.features == 4 and [f.level for f in rep.findings] == ["error"]
    assert rep.findings[0].message.startswith("Point not allowed for role 'constraint'")


def test_dxf_converts_with_the_declared_crs(tmp_path):
    from cityplan.convert import convert_file

    d = _dxf(tmp_path / "d.dxf")
    res = convert_file(d, tmp_path / "out.gpkg", src_crs="EPSG:4551", dst_crs="EPSG:4551", layer="绿地")
    back = gpd.read_file(res.path)
    assert back.area.round(2).tolist() == [37_500.0]  # 200 m square minus its 50 m hole, by construction
