"""A layer mixing points and polygons (parking areas and nodes as facilities) is drawn per family."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from cityplan.maps.payload import LayerView, split_by_family
from cityplan.maps.render import compose


@pytest.mark.unit
def test_mixed_view_splits_into_one_view_per_family() -> None:
    gdf = gpd.GeoDataFrame({"name": ["a", "b", "c"]},
                           geometry=[Point(126.6, 45.7), box(126.6, 45.7, 126.61, 45.71), Point(126.62, 45.72)],
                           crs=4326)
    v = LayerView(id="fac", title="Facilities", gdf=gdf, group="g")
    out = split_by_family([v])
    assert [x.id for x in out] == ["fac__polygon", "fac__point"]
    assert [len(x.gdf) for x in out] == [1, 2]
    assert split_by_family([LayerView(id="p", title="P", gdf=gdf.iloc[[0, 2]], group="g")])[0].id == "p"
    res = compose([v], title="t", groups=[{"id": "g", "title": "G"}], basemap="none", offline=True)
    assert res.layers == {"fac__polygon": 1, "fac__point": 2}


def test_coverage_map_of_parking_areas_and_nodes(synthetic_onemap) -> None:
    from cityplan.coverage import run_coverage
    from cityplan.maps.coverage_map import coverage_map

    res = run_coverage(synthetic_onemap, preset="parking-300m")
    kinds = set(res.facilities.geometry.geom_type)
    assert "Point" in kinds and len(kinds) >= 2  # areas and nodes: the case that crashed
    m = coverage_map(res, synthetic_onemap, offline=True)
    assert any(k.endswith("__point") for k in m.layers) and any(k.endswith("__polygon") for k in m.layers)
