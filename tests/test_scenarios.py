"""Existing / planned / difference scenarios: existing equals a run on the real facilities only,
every output says which scenario a figure belongs to, plan sites never count as existing."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from cityplan.coverage import run_coverage, write_coverage
from cityplan.coverage.run import DIFF_COLUMNS
from cityplan.maps.coverage_map import coverage_map
from cityplan.onemap import OneMap
from cli_invoke import run

KEY = ["district", "adcode"]


@pytest.fixture(scope="module")
def ice(onemap):
    return run_coverage(onemap, preset="ice-30min")


def test_existing_equals_a_run_with_the_real_layer_only(ice, onemap):
    real = run_coverage(onemap, facilities=["ice_sports"], method="walk", within="30min", season="winter")
    assert real.params["facility_count_plan"] == 0 and real.params["facility_count_illustrative"] == 0
    a = ice.by_scenario[ice.by_scenario.scenario == "existing"].drop(columns="scenario").reset_index(drop=True)
    b = real.by_scenario[real.by_scenario.scenario == "planned"].drop(columns="scenario").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(ice.features["covered_existing"].to_numpy(), real.features["covered"].to_numpy())
    # the existing set is exactly the real, non-plan facilities
    fac = ice.facilities
    om = OneMap.coerce(onemap)
    assert (fac.loc[fac.scenario == "existing", "facility_layer"] == "ice_sports").all()
    assert set(fac.loc[fac.scenario == "planned", "facility_layer"]) <= set(om.plan_layer_ids)
    assert ice.params["facility_count_existing"] == len(om.layer("ice_sports"))


def test_difference_and_newly_covered(ice):
    t = ice.by_scenario.set_index(["scenario", *KEY])
    e, p, d = t.loc["existing"], t.loc["planned"], t.loc["difference"]
    for c in DIFF_COLUMNS:
        np.testing.assert_allclose(d[c], (p[c] - e[c]).round(4 if c.endswith("share") else 1), atol=1e-9)
    np.testing.assert_array_equal(d["population"], p["population"])
    f = ice.features
    assert (f["covered_existing"] <= f["covered_planned"]).all()  # more facilities never uncover
    np.testing.assert_array_equal(f["newly_covered"], f["covered_planned"] & ~f["covered_existing"])
    assert f["newly_covered"].any()
    # the headline frames are the existing scenario (real facilities only) and say so (issue #23)
    assert ice.scenario == "existing" and set(ice.districts["scenario"]) == {"existing"}
    assert set(ice.gaps["scenario"]) == {"existing"} and set(ice.isochrones["scenario"]) == {"existing"}
    pd.testing.assert_frame_equal(ice.districts.drop(columns="scenario"),
                                  ice.by_scenario[ice.by_scenario.scenario == "existing"].drop(columns="scenario")
                                  .reset_index(drop=True))


def test_real_plan_sites_are_planned_not_existing(onemap):
    # the Line 3 north-west stations are real (not illustrative) but a plan layer
    res = run_coverage(onemap, facilities=["plan_metro_nw_stations"], method="walk", within="1000m")
    assert not res.facilities["is_illustrative"].any() and res.facilities["is_plan"].all()
    ex = res.by_scenario[res.by_scenario.scenario == "existing"]
    assert (ex["population_covered"] == 0).all() and res.features["covered_planned"].any()
    assert any("no facility in this scenario" in w for w in res.warnings)
    # an added site (a proposal under review) is a plan site too
    site = gpd.GeoDataFrame({"name": ["proposal"]}, geometry=gpd.points_from_xy([126.63], [45.76]), crs=4326)
    res2 = run_coverage(onemap, facilities=["ice_sports"], extra_facilities=[("proposal", site)], method="walk",
                        within="1000m")
    fac = res2.facilities
    assert fac.loc[fac.facility_layer == "proposal", "scenario"].tolist() == ["planned"]


def test_one_scenario_only(onemap):
    res = run_coverage(onemap, preset="ice-30min", scenario="existing")
    assert res.scenario == "existing" and set(res.by_scenario["scenario"]) == {"existing"}
    assert "newly_covered" not in res.features.columns and "covered_planned" not in res.features.columns
    assert set(res.params["scenarios"]) == {"existing"}


def test_outputs_name_the_scenario(ice, tmp_path):
    files = write_coverage(ice, tmp_path / "c", formats=("csv", "xlsx"))
    per = pd.read_csv(tmp_path / "c" / "per_district.csv", encoding="utf-8-sig")
    assert list(per["scenario"].unique()) == ["existing", "planned", "difference"]
    assert {"district", "population", "population_covered", "population_share", "area_share"} <= set(per.columns)
    feat = pd.read_csv(tmp_path / "c" / "per_feature.csv", encoding="utf-8-sig")
    assert {"covered_existing", "covered_planned", "newly_covered", "scenario"} <= set(feat.columns)
    gpkg = tmp_path / "c" / "coverage.gpkg"
    import pyogrio

    layers = {row[0] for row in pyogrio.list_layers(gpkg)}
    assert {"isochrones_existing", "isochrones_planned", "gaps_existing", "gaps_planned", "facilities"} <= layers
    fac = gpd.read_file(gpkg, layer="facilities")
    assert {"is_illustrative", "is_plan", "scenario"} <= set(fac.columns)
    xl = pd.read_excel(tmp_path / "c" / "coverage.xlsx", sheet_name=None)
    assert "scenario" in xl["per_district"].columns and "gaps existing" in xl
    params = json.loads((tmp_path / "c" / "params.json").read_text())
    assert set(params["scenarios"]) == {"existing", "planned", "difference"} and params["primary_scenario"] == "existing"
    assert len(files) >= 5


def test_map_draws_existing_and_planned_apart(ice, onemap):
    m = coverage_map(ice, onemap)
    assert m.layers["coverage_facilities"] == (ice.facilities.scenario == "existing").sum()
    assert m.layers["coverage_facilities_planned"] == (ice.facilities.scenario == "planned").sum()
    assert m.layers["coverage_newly_covered"] == ice.features["newly_covered"].sum()


def test_cli_prints_existing_planned_difference(onemap, tmp_path):
    r = run("coverage", "--preset", "ice-30min", "--onemap", str(onemap), "--out", str(tmp_path / "o"), "--no-map",
            "--format", "csv", env={"COLUMNS": "250"})
    assert r.returncode == 0, r.stderr
    for word in ("existing", "planned", "difference"):
        assert word in r.stdout
    r = run("coverage", "--preset", "ice-30min", "--scenario", "nope", "--onemap", str(onemap))
    assert r.returncode == 2 and "Traceback" not in r.stderr
