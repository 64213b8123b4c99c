"""Plan sites, the task link and progress, on the real one map and on small broken inputs."""

from __future__ import annotations

from io import StringIO

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from cityplan.errors import SchemaError, UnitError, UnknownTaskIdError
from cityplan.onemap import OneMap
from cityplan.progress.context import compute_progress
from cityplan.tasks import link_plan_sites, load_register
from cityplan.tasks.link import PlanLayer, assign_districts, load_plan_layers
from cityplan.tasks.sites import allocate, pick_features
from cli_invoke import invoke
from conftest import HARBIN


@pytest.fixture(scope="module")
def by_district(onemap):
    return compute_progress(onemap, by="district")


def test_every_plan_feature_counted_once(onemap, by_district):
    layers = load_plan_layers(onemap)
    n = sum(len(pl.gdf) for pl in layers)
    feats = by_district.link.features
    assert len(feats) == n and not feats.duplicated(["layer", "site_id"]).any()
    assert len(layers) >= 10
    # every feature sits in exactly one district row (or the explicit outside bucket)
    assert feats.district.notna().all()


def test_district_rows_sum_to_totals(by_district):
    t = by_district.table
    tot = t[t.district == "(all)"].set_index(["task_id", "metric"])
    parts = t[t.district != "(all)"].groupby(["task_id", "metric"])[["planned", "features"]].sum()
    joined = tot[["planned", "features"]].join(parts.add_suffix("_d"), how="inner")
    assert len(joined) >= 15
    np.testing.assert_allclose(joined.planned, joined.planned_d, rtol=1e-12)
    np.testing.assert_array_equal(joined.features, joined.features_d)


def test_illustrative_totals_equal_report_targets(onemap, by_district):
    t = by_district.table
    tot = t[(t.district == "(all)") & t.target.notna() & (t.features > 0)]
    expected = {("2.3.3", "projects"): 224, ("2.3.3", "floor_area"): 10_930_000,
                ("2.5.2", "parking_spaces"): 5000, ("2.5.3", "model_streets"): 10,
                ("3.2.2", "parks"): 5, ("5.5.1", "schools"): 4, ("5.5.1", "school_seats"): 8000,
                ("5.6.2", "fitness_stations"): 9, ("5.6.2", "multi_use_fields"): 9,
                ("5.6.2", "fitness_path_sets"): 100}
    got = {(r.task_id, r.metric): r.planned for r in tot.itertuples()}
    assert got == expected
    assert (tot.plan == "planned in full").all()
    # illustrative sites are planned, never achieved: achievement comes from the ledger only
    assert (tot.planned_illustrative == tot.planned).all() and (tot.achieved == 0).all()
    cat = OneMap.open(onemap).catalog.set_index("layer")
    for pl in load_plan_layers(onemap):
        assert pl.gdf["illustrative"].astype(bool).eq(bool(cat.loc[pl.id, "illustrative"])).all()


def test_real_plan_sites_from_real_data(onemap):
    layers = {pl.id: pl for pl in load_plan_layers(onemap)}
    st = layers["plan_metro_nw_stations"]
    assert not st.illustrative and len(st.gdf) == 7
    assert set(st.gdf.name) == {"河山街", "河松街", "公路大桥", "上海街", "友谊宫", "兆麟公园·市儿童医院",
                                "丁香公园"}
    track = layers["plan_metro_nw_track"].gdf.to_crs(4551)
    # every north-west loop station lies on the extracted section
    assert st.gdf.to_crs(4551).distance(track.union_all()).max() < 20
    # the section is only part of the 37.5 km loop
    assert 3 < track.length.sum() / 1000 < 15
    zones = layers["plan_sun_island_zones"].gdf
    island = gpd.read_file(onemap, layer="sun_island").query("place == 'island'")
    assert zones.to_crs(4551).area.sum() == pytest.approx(island.to_crs(4551).area.sum(), rel=1e-6)


def test_district_assignment_matches_overlay(onemap):
    """Independent check: largest-overlap district via geopandas overlay."""
    ren = gpd.read_file(onemap, layer="plan_renovation")
    dist = gpd.read_file(onemap, layer="districts")
    ours = assign_districts(ren, dist)
    ov = gpd.overlay(ren[["site_id", "geometry"]].to_crs(4551), dist[["adcode", "geometry"]].to_crs(4551))
    ov["a"] = ov.area
    best = ov.sort_values("a").groupby("site_id").adcode.last()
    assert (ours.adcode.to_numpy() == best.reindex(ren.site_id).to_numpy()).all()


def test_allocate_sums_exactly():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = rng.uniform(0.1, 10, rng.integers(1, 300))
        total = int(rng.integers(1, 10_000_000))
        a = allocate(total, w)
        assert a.sum() == total and (a >= 0).all()
        assert np.abs(a - total * w / w.sum()).max() < 1.0 + 1e-9


def test_pick_features_is_reproducible():
    g = gpd.GeoDataFrame({"k": range(100)}, geometry=[box(i, 0, i + 0.5, 0.5) for i in range(100)],
                         crs=4551).to_crs(4326)
    a = pick_features(g, n=10, seed=7)
    b = pick_features(g, n=10, seed=7)
    assert list(a.k) == list(b.k) and list(a.k) != list(pick_features(g, n=10, seed=8).k)
    with pytest.raises(SchemaError, match="only 100 candidate"):
        pick_features(g, n=101, seed=7)


def _districts():
    return gpd.GeoDataFrame({"adcode": ["1", "2"], "name": ["东区", "西区"]},
                            geometry=[box(126.6, 45.7, 126.65, 45.75), box(126.65, 45.7, 126.7, 45.75)],
                            crs=4326)


def _layer(**cols):
    gdf = gpd.GeoDataFrame(cols, geometry=[Point(126.62, 45.72), Point(126.68, 45.72)], crs=4326)
    return gdf


def test_unknown_task_id():
    reg = load_register(HARBIN)
    pl = PlanLayer("p", _layer(task_id=["2.3.3", "9.9.9"], n=[1, 1]), [])
    with pytest.raises(UnknownTaskIdError, match=r"'p'.*\['9.9.9'\].*rows \[1\]"):
        link_plan_sites(reg, [pl], _districts())


def test_plan_layer_without_task_id():
    with pytest.raises(SchemaError, match="no 'task_id' column"):
        link_plan_sites(load_register(HARBIN), [PlanLayer("p", _layer(n=[1, 2]), [])], _districts())


def test_unit_mismatch_and_conversion():
    reg = load_register(HARBIN)
    bad = PlanLayer("p", _layer(task_id=["2.3.3", "2.3.3"], a=[1.0, 2.0]),
                    [{"metric": "floor_area", "column": "a", "unit": "seats"}])
    with pytest.raises(UnitError, match="'seats'.*'m2'"):
        link_plan_sites(reg, [bad], _districts())
    ha = PlanLayer("p", _layer(task_id=["2.3.3", "2.3.3"], a=[1.0, 2.0]),
                   [{"metric": "floor_area", "column": "a", "unit": "ha"}])
    res = link_plan_sites(reg, [ha], _districts())
    assert res.quantities.value.sum() == pytest.approx(30000.0)
    assert set(res.features.district) == {"东区", "西区"}
    # tasks marked mapped but without features are reported, not hidden
    assert any(p["task_id"] == "5.5.1" for p in res.problems)


def test_progress_cli(onemap, tmp_path):
    r = invoke("progress", "--onemap", onemap, "--by", "district", "--format", "csv")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(StringIO(r.stdout), dtype={"task_id": str, "adcode": str})
    assert {"district", "target", "planned", "ratio", "status"} <= set(df.columns)
    assert df[(df.task_id == "2.5.2") & (df.district == "(all)")].planned.iloc[0] == 5000
    out = tmp_path / "p.xlsx"
    r = invoke("progress", "--onemap", onemap, "--format", "xlsx", "--out", out)
    assert r.exit_code == 0, r.output
    assert set(pd.read_excel(out, sheet_name=None)) == {"table", "chapters", "overdue", "problems"}
    r = invoke("tasks", "--onemap", onemap, "--mapped-only", "--format", "json")
    assert r.exit_code == 0 and '"2.3.3"' in r.stdout and '"1.1.1"' not in r.stdout
    r = invoke("progress", "--onemap", tmp_path / "no.gpkg")
    assert r.exit_code == 2 and "run `cityplan build` first" in r.stderr
