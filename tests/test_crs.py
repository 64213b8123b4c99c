"""CRS policy and the GCJ-02 / BD-09 transforms, checked against independent figures."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import Point, Polygon

from cityplan import crs
from cityplan.errors import CRSMismatchError, MissingCRSError, OutsideChinaError
from cityplan.io import read_vector

GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_forward_matches_published_pairs(data):
    # the upstream station table carries both coordinate pairs (6 decimals)
    t = pd.read_csv(data / "osm_metro_justgo/harbin_metro_stations.csv")
    glon, glat = crs.wgs84_to_gcj02(t.lon_wgs84.to_numpy(), t.lat_wgs84.to_numpy())
    err = _metres(glon, glat, t.lon_gcj02.to_numpy(), t.lat_gcj02.to_numpy())
    assert np.median(err) < 1.0
    # the offset in Harbin is about 510 m
    off = _metres(t.lon_wgs84.to_numpy(), t.lat_wgs84.to_numpy(), glon, glat)
    assert 480 < np.median(off) < 540


def test_inverse_round_trip_below_half_metre_across_china():
    rng = np.random.default_rng(1)
    lon = rng.uniform(74, 134, 5000)
    lat = rng.uniform(18, 53, 5000)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    assert _metres(lon, lat, wlon, wlat).max() < 0.5
    assert _metres(lon, lat, glon, glat).max() > 100  # the transform does move points


def test_bd09_round_trip():
    lon, lat = np.array([126.6, 116.4]), np.array([45.75, 39.9])
    blon, blat = crs.gcj02_to_bd09(*crs.wgs84_to_gcj02(lon, lat))
    wlon, wlat = crs.gcj02_to_wgs84(*crs.bd09_to_gcj02(blon, blat))
    assert _metres(lon, lat, wlon, wlat).max() < 0.5
    assert _metres(lon, lat, blon, blat).min() > 500


def test_outside_china_is_refused():
    with pytest.raises(OutsideChinaError, match="outside China"):
        crs.gcj02_to_wgs84(np.array([2.35]), np.array([48.85]))
    gdf = gpd.GeoDataFrame(geometry=[Point(126.6, 45.7), Point(2.35, 48.85)], crs=4326)
    with pytest.raises(OutsideChinaError, match=r"rows \[1\]"):
        crs.convert_datum(gdf, "EPSG:4326", "gcj02")


def test_convert_datum_whole_frame_keeps_input_and_attributes():
    poly = Polygon([(126.60, 45.75), (126.61, 45.75), (126.61, 45.76), (126.60, 45.75)])
    gdf = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[Point(126.6, 45.7), poly], crs=4326)
    before = gdf.copy()
    g = crs.convert_datum(gdf, "EPSG:4326", "gcj02")
    back = crs.convert_datum(g, "gcj02", "EPSG:4326")
    pd.testing.assert_frame_equal(gdf, before)  # input untouched
    assert list(back.name) == ["a", "b"]
    c0 = np.array(gdf.geometry.iloc[1].exterior.coords)
    c1 = np.array(back.geometry.iloc[1].exterior.coords)
    assert _metres(c0[:, 0], c0[:, 1], c1[:, 0], c1[:, 1]).max() < 0.5


@pytest.mark.parametrize(("lon", "epsg"), [(126.6, 4551), (120.1, 4549), (117.2, 4548), (129.5, 4552)])
def test_gk3_zone(lon, epsg):
    assert crs.gk3_zone_epsg(lon) == epsg


def test_working_crs_from_the_data_and_utm():
    with pytest.raises(MissingCRSError, match="needs data"):
        crs.working_crs()  # no city's CRS is a default any more
    harbin = gpd.GeoDataFrame(geometry=[Point(126.6, 45.7)], crs=4326)
    assert crs.working_crs(harbin).to_epsg() == 4551
    assert crs.working_crs(harbin, utm=True).to_epsg() == 32652
    with pytest.raises(CRSMismatchError, match="UTM"):
        crs.gk3_zone_epsg(2.0)


def test_parse_crs_forms():
    assert crs.parse_crs("GCJ-02").datum == "gcj02"
    assert crs.parse_crs("bd09").datum == "bd09"
    assert crs.parse_crs("cgcs2000").crs.to_epsg() == 4490
    assert crs.parse_crs(4551).crs.to_epsg() == 4551
    with pytest.raises(CRSMismatchError, match="unknown CRS 'nonsense'"):
        crs.parse_crs("nonsense")


def test_ensure_crs_refuses_missing_and_swapped():
    gdf = gpd.GeoDataFrame(geometry=[Point(126.6, 45.7)])
    with pytest.raises(MissingCRSError, match="no CRS.*--crs"):
        crs.ensure_crs(gdf, None, source="x.shp")
    swapped = gpd.GeoDataFrame(geometry=[Point(45.7, 126.6)])
    with pytest.raises(CRSMismatchError, match="swapped"):
        crs.ensure_crs(swapped, "EPSG:4326", source="x.csv")
    tagged = gpd.GeoDataFrame(geometry=[Point(500000, 5060000)], crs=4551)
    with pytest.raises(CRSMismatchError, match="declared"):
        crs.ensure_crs(tagged, "EPSG:4326", source="x.gpkg")
    # a projected CGCS2000 layer is brought to storage lon/lat
    out = crs.ensure_crs(tagged, None, source="x.gpkg")
    assert out.crs.to_epsg() == 4326 and 125 < out.geometry.x.iloc[0] < 127


def test_converted_metro_stations_match_osm_nodes(data):
    """GCJ-02 stations converted by cityplan land within 5 m (median) of OSM 2024 nodes."""
    g = read_vector(data / "osm_metro_justgo/harbin_metro_stations.gcj02.geojson", crs="gcj02")
    o = read_vector(data / "osm_central_harbin_2024/metro_stations_osm2024.geojson")
    m = g.merge(o[["name", "geometry"]], on="name", suffixes=("", "_osm"))
    assert m.name.nunique() >= 40
    d = _metres(m.geometry.x.to_numpy(), m.geometry.y.to_numpy(),
                gpd.GeoSeries(m.geometry_osm).x.to_numpy(), gpd.GeoSeries(m.geometry_osm).y.to_numpy())
    per_station = pd.Series(d).groupby(m.name.to_numpy()).min()
    assert per_station.median() < 5.0
