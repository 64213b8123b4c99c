"""Population where people live: district totals = census x the district's share inside the extract;
inside a district, residents follow building floor area; census columns detected with clear errors."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from cityplan.coverage.demand import (
    NON_RESIDENTIAL,
    census_population_column,
    demand_population,
    district_shares,
)
from cityplan.coverage.inputs import prepared_demand
from cityplan.errors import CoverageError
from cityplan.onemap import OneMap


@pytest.fixture(scope="module")
def dem(onemap):
    om = OneMap.coerce(onemap)
    return om, prepared_demand(None, om, None, None)[0]


def test_district_totals_are_census_times_the_share_inside(dem):
    om, d = dem
    census = om.layer_for("census").assign(adcode=lambda c: c.adcode.astype(str)).set_index("adcode")
    dist = om.layer_for("districts").assign(adcode=lambda x: x.adcode.astype(str)).set_index("adcode")
    # the rule: census population x the district's extract_share (the build's clipped / full area)
    share = dist["extract_share"].astype(float)
    got = d.groupby(d.adcode.astype(str)).population.sum()
    expected = census.pop_2020.reindex(got.index) * share.reindex(got.index)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    # and that share is the area ratio, measured independently (district area / full DataV area)
    full = om.layer_for("district_boundaries_full").assign(adcode=lambda x: x.adcode.astype(str)).set_index("adcode")
    ratio = dist.to_crs(4551).area / full.to_crs(4551).area.reindex(dist.index)
    np.testing.assert_allclose(share, ratio, rtol=5e-3)
    # never all of a district's residents when only part of it is in the extract
    part = share[share < 0.99].index
    assert len(part) >= 4 and (got.reindex(part) < census.pop_2020.reindex(part)).all()
    assert d.population_source.str.startswith("estimate: census 2020 population x").all()


def test_residents_follow_building_floor_area(dem):
    om, d = dem
    b = om.layer_for("buildings")
    res = b[~b.building.str.lower().isin(NON_RESIDENTIAL)]
    lv = pd.to_numeric(res["building:levels"], errors="coerce")
    lv = lv.where(lv > 0)
    levels = lv.fillna(lv.median())
    bw = res.to_crs(4551)
    pts = gpd.GeoDataFrame({"floor": bw.area.to_numpy() * levels.to_numpy()},
                           geometry=bw.representative_point().to_numpy(), crs=4551)
    hit = gpd.sjoin(pts, d.to_crs(4551)[["geometry"]], predicate="within")
    floor = hit.groupby("index_right").floor.sum().reindex(d.index, fill_value=0.0)
    with_b = floor > 0
    assert with_b.sum() > 500
    np.testing.assert_allclose(d.floor_area_m2[with_b], floor[with_b], rtol=1e-3, atol=1)
    # inside one district, residents per m2 of floor area are the same wherever buildings are mapped
    for _, g in d[with_b.to_numpy()].groupby("adcode"):
        per_floor = g.population / g.floor_area_m2
        np.testing.assert_allclose(per_floor, per_floor.iloc[0], rtol=1e-3)  # floor_area_m2 is rounded to 0.1 m2
    # compounds without a mapped building get land area x the district's floor-area ratio
    x = d[~with_b.to_numpy()]
    assert x.population_source.str.endswith("land area x district floor-area ratio").all()


def test_census_columns_detected_or_refused():
    assert census_population_column(pd.DataFrame({"adcode": [1], "pop_2020": [5]})) == ("pop_2020", "census 2020")
    assert census_population_column(pd.DataFrame({"pop_2010": [1], "pop_2020": [5]}))[0] == "pop_2020"
    assert census_population_column(pd.DataFrame({"population": [1]})) == ("population", "census")
    with pytest.raises(CoverageError, match=r"no population column .* it has \['adcode', 'people'\]"):
        census_population_column(pd.DataFrame({"adcode": [1], "people": [5]}))


def test_synthetic_rule_without_buildings():
    # two districts: A wholly inside, B half inside (full boundary twice as large); no buildings
    crs = 4551
    districts = gpd.GeoDataFrame({"adcode": ["1", "2"], "name": ["A", "B"]},
                                 geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], crs=crs)
    full = gpd.GeoDataFrame({"adcode": ["1", "2"]}, geometry=[box(0, 0, 1000, 1000), box(1000, 0, 3000, 1000)],
                            crs=crs)
    share = district_shares(districts, full, crs)
    assert share.to_dict() == pytest.approx({"1": 1.0, "2": 0.5})
    census = pd.DataFrame({"adcode": ["1", "2"], "population": [1000, 4000]})
    homes = gpd.GeoDataFrame(geometry=[box(100, 100, 200, 200), box(300, 300, 500, 500),
                                       box(1100, 100, 1200, 200)], crs=crs)
    out = demand_population(homes, districts, census, crs=crs, full_districts=full)
    np.testing.assert_allclose(out.population, [200, 800, 2000])
    assert out.population_source.str.contains("by residential land area").all()
