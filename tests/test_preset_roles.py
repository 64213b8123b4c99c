"""Presets name catalog roles, not layer ids: Harbin's presets resolve to the layers they named
before; a new city runs parking-300m; a preset whose roles the map lacks is "not available here"
(listed, refused with exit 2, skipped by report and checkup); coverage without a census gives
residential land shares and no population."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cityplan._errors import CoverageError
from cityplan.catalog import load_catalog
from cityplan.coverage import (
    PresetUnavailableError,
    get_preset,
    load_presets,
    preset_availability,
    resolve_facilities,
    run_coverage,
)
from cityplan.onemap import OneMap
from cli_invoke import invoke
from conftest import HARBIN
from synthetic_city import write_city

#: every Harbin preset's facilities as it named them by layer id before presets named roles
#: (layer, filter), in order
HARBIN_LAYERS: dict[str, list[tuple[str, dict]]] = {
    "life-5min": [("parks", {})],
    "life-10min": [("schools_points", {"amenity": ["school"]})],
    "life-15min": [("schools_points", {"amenity": ["school"]}),
                   ("sports_facilities", {"leisure": ["stadium", "sports_centre"]})],
    "primary-school-500m": [("schools_points", {"amenity": ["school"]})],
    "middle-school-1000m": [("schools_points", {"amenity": ["school"]})],
    "park-service-radius": [("parks", {})],
    "fitness-15min": [("sports_facilities", {}), ("sports_facility_points", {}), ("parks", {"leisure": ["park"]})],
    "ice-30min": [("ice_sports", {}), ("plan_fitness_stations", {}), ("plan_fitness_fields", {})],
    "parking-300m": [("parking", {}), ("parking_points", {}), ("plan_parking", {})],
}
NO_CENSUS = "population unavailable: the map has no census"


def _resolved(preset, om) -> list[tuple[str, dict]]:
    entries, notes = resolve_facilities(preset.facilities, om)
    assert notes == []
    return [(e["layer"], e.get("where", {})) for e in entries]


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> Path:
    """The synthetic city built without a census and with its parks layer empty."""
    from cityplan.build import build_onemap
    from cityplan.city import new_city

    root = tmp_path_factory.mktemp("bare")
    src = write_city(root / "src")
    city = new_city("Synthetic bare", osm=src.osm, districts=src.districts, census=None, out=root / "city")
    cat = city / "catalog.yaml"
    doc = yaml.safe_load(cat.read_text(encoding="utf-8"))
    parks = next(layer for layer in doc["layers"] if layer["id"] == "parks")
    parks["source"]["where"] = "1 = 0"  # no park read: the layer with the role parks is empty
    cat.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return build_onemap(city=city, data=city, out=root / "bare.gpkg").path


def test_harbin_presets_resolve_to_the_layers_they_named_before(onemap):
    om = OneMap.coerce(onemap)
    presets = load_presets(om.profile)
    assert set(presets) == set(HARBIN_LAYERS)
    for pid, p in presets.items():
        assert all("role" in f and "layer" not in f for f in p.facilities), pid  # named by role
        assert _resolved(p, om) == HARBIN_LAYERS[pid], pid
        assert p.demand == {"role": "residential"} and om.layer_id_for("residential") == "residential"
        assert preset_availability(p, om) == (True, ""), pid
    # the profile's catalog (before any build) resolves the same roles to the same layers
    cat = load_catalog(HARBIN)
    for pid, p in load_presets(HARBIN).items():
        got = [(s.id, f.get("where", {})) for f in p.facilities for s in cat.with_role(f["role"])]
        assert got == HARBIN_LAYERS[pid], pid
    # a plan layer reached through a role still counts in the planned scenario only
    assert {"plan_parking", "plan_fitness_stations", "plan_fitness_fields"} <= set(om.plan_layer_ids)


def test_parking_300m_runs_on_the_synthetic_city(synthetic_onemap, tmp_path):
    om = OneMap.coerce(synthetic_onemap)
    p = get_preset("parking-300m", om.profile)
    assert p.facilities == ({"role": "parking"},)
    assert preset_availability(p, om) == (True, "")
    res = run_coverage(om, preset="parking-300m")
    assert res.params["facilities"] == ["parking", "parking_points"]  # no plan_parking needed
    assert res.params["facility_roles"] == {"parking": ["parking", "parking_points"]}
    assert res.params["facility_count"] == 2 and res.params["facility_count_plan"] == 0
    by_layer = run_coverage(om, facilities=["parking", "parking_points"], method="walk", within="300m")
    pd.testing.assert_frame_equal(res.by_scenario, by_layer.by_scenario)
    assert res.by_scenario["area_share"].max() > 0
    r = invoke("coverage", "--preset", "parking-300m", "--onemap", synthetic_onemap, "--out", tmp_path / "p",
               "--no-map")
    assert r.exit_code == 0, r.output


def test_preset_without_its_role_is_not_available(bare, tmp_path):
    om = OneMap.coerce(bare)
    assert om.layers_with_role("parks") == ["parks"] and len(om.layer("parks")) == 0
    for pid in ("life-5min", "park-service-radius", "fitness-15min"):
        assert preset_availability(pid, om) == (False, "not available here: needs parks"), pid
    assert preset_availability("parking-300m", om) == (True, "")
    # no layer with the role at all (a catalog that declares none): the same reason
    cat = load_catalog(om.profile)
    no_role = dataclasses.replace(cat, layers=tuple(dataclasses.replace(s, roles=()) if s.id == "parks" else s
                                                    for s in cat.layers))
    assert preset_availability(get_preset("life-5min", om.profile), no_role) == (
        False, "not available here: needs parks")
    assert preset_availability(get_preset("life-5min", om.profile), cat) == (True, "")
    with pytest.raises(PresetUnavailableError, match="--preset life-5min: not available here: needs parks"):
        run_coverage(om, preset="life-5min")
    # the CLI: listed with the reason; a run exits 2 with it, on one line, writing nothing
    r = invoke("coverage", "presets", "--onemap", bare, "--format", "json")
    assert r.exit_code == 0, r.output
    listed = {row["id"]: row for row in json.loads(r.stdout)}
    assert listed["life-5min"]["available"] is False
    assert listed["life-5min"]["reason"] == "not available here: needs parks"
    assert listed["parking-300m"]["available"] is True and listed["parking-300m"]["facilities"] == \
        "parking: parking, parking_points"
    r = invoke("coverage", "--preset", "park-service-radius", "--onemap", bare, "--out", tmp_path / "x", "--no-map")
    assert r.exit_code == 2 and "not available here: needs parks" in r.stderr and "Traceback" not in r.output
    assert len([ln for ln in r.stderr.splitlines() if "not available" in ln]) == 1
    assert not (tmp_path / "x").exists()


def test_coverage_without_census_gives_area_shares(bare, synthetic_onemap):
    om = OneMap.coerce(bare)
    assert om.layer_id_for("census", required=False) is None
    res = run_coverage(om, preset="parking-300m")
    ref = run_coverage(synthetic_onemap, preset="parking-300m")
    got, want = res.by_scenario, ref.by_scenario
    assert got[["scenario", "district"]].equals(want[["scenario", "district"]])
    np.testing.assert_array_equal(got["area_share"].to_numpy(float), want["area_share"].to_numpy(float))
    assert want["population"].gt(0).any() and want["population_share"].notna().any()
    for col in ("population", "population_covered", "population_share"):
        assert got[col].isna().all(), col  # unknown, never 0
    assert (res.features["population_source"] == "unavailable").all() and res.features["population"].isna().all()
    assert res.params["population"] == "unavailable"
    assert len(res.notes) == 1 and res.notes[0].startswith(NO_CENSUS)
    assert res.params["notes"] == res.notes
    sites = om.layer("parking_points").assign(spaces=50)
    sites.to_file(bare.parent / "sites.geojson")
    with pytest.raises(CoverageError, match="--capacity 'spaces': 2SFCA accessibility needs population"):
        run_coverage(om, facilities=[str(bare.parent / "sites.geojson")], method="walk", within="300m",
                     capacity="spaces")
    r = invoke("coverage", "--preset", "parking-300m", "--onemap", bare, "--out", bare.parent / "cli", "--no-map")
    assert r.exit_code == 0, r.output
    assert NO_CENSUS in " ".join(r.stderr.split())
    saved = json.loads((bare.parent / "cli" / "params.json").read_text(encoding="utf-8"))
    assert saved["population"] == "unavailable" and saved["notes"][0].startswith(NO_CENSUS)


def test_report_and_checkup_skip_unavailable_presets(bare, tmp_path):
    from cityplan.checkup.run import run_checkup
    from cityplan.report import prepare_inputs
    from cityplan.report.district import district_tables

    shared = prepare_inputs(bare, presets=["life-5min", "parking-300m"])
    assert set(shared.coverage) == {"parking-300m"}
    assert shared.skipped == {"life-5min": "not available here: needs parks"}
    rep = district_tables("西城区", shared)
    skipped = rep.coverage[rep.coverage.preset == "life-5min"]
    assert skipped["note"].tolist() == ["skipped: not available here: needs parks"]
    ran = rep.coverage[rep.coverage.preset == "parking-300m"]
    assert len(ran) == 3 and not ran["note"].fillna("").str.startswith("skipped").any()
    assert rep.uncovered["population_est"].isna().all()  # no census: no compound population

    res = run_checkup([str(bare)], presets="life-5min,parking-300m", scheduler="serial", out=tmp_path / "c",
                      overview_map=False)
    assert res.errors.empty
    t = res.table
    row = t[t.preset == "life-5min"]
    assert len(row) == 1 and row["status"].iloc[0] == "skipped"
    assert row["reason"].iloc[0] == "skipped: not available here: needs parks"
    assert row["district"].iloc[0] == "(all)" and np.isnan(row["area_share"].iloc[0])
    ok = t[t.preset == "parking-300m"]
    assert len(ok) > 0 and (ok["status"] == "ok").all() and (ok["reason"] == "").all()
    assert ok["area_share"].notna().all() and ok["population_share"].isna().all()
    csv = pd.read_csv(tmp_path / "c" / "checkup.csv", encoding="utf-8-sig")
    assert list(csv.columns[:8]) == ["city", "district", "preset", "scenario", "population_share", "area_share",
                                     "target", "met"]
    assert "skipped: not available here: needs parks" in set(csv["reason"].dropna())
