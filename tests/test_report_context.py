"""Road labels of the report's map context (review opinion and district pages)."""

import geopandas as gpd
import pytest
from shapely.geometry import LineString

from cityplan.report.context import road_labels

pytestmark = pytest.mark.unit


def test_no_roads_around_gives_no_labels():
    # a red line far from every major road: the clipped roads are empty (this was a KeyError)
    empty = gpd.GeoDataFrame({"name": []}, geometry=[], crs=4547)
    assert road_labels(empty) == []


def test_a_named_road_is_labelled_once_at_its_middle():
    roads = gpd.GeoDataFrame({"name": ["中山路", "中山路", None]},
                             geometry=[LineString([(0, 0), (500, 0)]), LineString([(500, 0), (1000, 0)]),
                                       LineString([(0, 100), (2000, 100)])], crs=4547)
    (x, y, angle, name), = road_labels(roads)
    assert (x, y, name) == (500.0, 0.0, "中山路") and angle == pytest.approx(0.0)
