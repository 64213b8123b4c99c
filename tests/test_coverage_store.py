"""Coverage stored once per build in the one map (issue 26, items 7 and 8): dashboards, exports and
the district report read the stored results; they equal a fresh `run_coverage`; another build's rows
are never used; one process computes what is missing."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pytest
import shapely

from cityplan.coverage import load_presets, run_coverage
from cityplan.coverage.run import uncovered_compounds
from cityplan.onemap import OneMap
from cityplan.services import coverage as svc
from cityplan.services import coverage_store as cs
from cli_invoke import invoke
from server_process import add_accounts, login, start

NANGANG = "230103"
FIGURES = ["population", "population_covered", "population_share", "residential_area_m2",
           "residential_area_covered_m2", "area_share", "features", "features_covered"]


@pytest.mark.unit
def test_frames_round_trip_through_plain_arrays():
    df = gpd.GeoDataFrame({
        "flag": [True, False, True], "n": np.array([1, 2, 3], np.int64), "x": [0.5, np.nan, 2.0],
        "name": ["甲", None, "=1+1"], "maybe": [True, None, False], "num": [1.5, None, 3],
        "code": pd.Series(["a", "b", None], dtype="str"),
    }, geometry=[shapely.Point(1, 2), None, shapely.box(0, 0, 1, 1)], crs="EPSG:4326", index=[4, 7, 9])
    back = cs.arrays_frame(cs.frame_arrays(df, "t"), "t")
    assert back.crs == df.crs and list(back.columns) == list(df.columns) and list(back.index) == [4, 7, 9]
    pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")), pd.DataFrame(df.drop(columns="geometry")))
    assert back.geometry.iloc[1] is None and back.geometry.iloc[2].equals(df.geometry.iloc[2])
    assert cs.arrays_frame({}, "t") is None


def _rowids(path: Path) -> dict[str, int]:
    """The cache rows of the stored coverage (a run stored again gets new row ids)."""
    with sqlite3.connect(path) as con:
        return dict(con.execute("SELECT key, min(rowid) FROM cityplan_cache WHERE key LIKE 'coverage:%' "
                                "GROUP BY key").fetchall())


@pytest.fixture(scope="module")
def stored(onemap, tmp_path_factory) -> Path:
    """A copy of the Harbin map whose coverage `cityplan coverage store` stored (every preset)."""
    path = tmp_path_factory.mktemp("coverstore") / "harbin.gpkg"
    shutil.copy(onemap, path)
    r = invoke("coverage", "store", "--onemap", path)
    assert r.exit_code == 0, r.output
    return path


@pytest.fixture(scope="module")
def fresh(onemap):
    """The independent computation: run_coverage on the session map, nothing stored read."""
    return run_coverage(onemap, preset="ice-30min")


def test_stored_results_equal_a_fresh_run_and_belong_to_their_build(stored, fresh, tmp_path):
    cs._MEMO.clear()
    om = OneMap.open(stored)
    runs = svc.run_states(om)
    assert {s.run for s in svc.coverage_runs(om)} == set(runs) and {v[0] for v in runs.values()} == {"done"}
    got = svc.stored_districts(om, "ice-30min")
    ref = fresh.by_scenario
    assert got[["scenario", "district", "adcode"]].astype(str).values.tolist() == \
        ref[["scenario", "district", "adcode"]].astype(str).values.tolist()
    np.testing.assert_allclose(got[FIGURES].to_numpy(float), ref[FIGURES].to_numpy(float), rtol=0, atol=0)
    res = svc.stored_result(om, "ice-30min").result
    assert res.headline_text(NANGANG) == fresh.headline_text(NANGANG)  # existing first, planned beside, labelled
    # the uncovered compounds of Nangang: exactly run_coverage's, each with its 街道 (or "not known")
    unc = svc.uncovered_list(om, "ice-30min", NANGANG)
    want = uncovered_compounds(fresh, NANGANG)
    assert len(unc) == len(want) == int(((fresh.features.adcode.astype(str) == NANGANG) & ~fresh.features.covered).sum())
    assert unc.osm_ref.tolist() == want.osm_ref.tolist() and unc.name.tolist() == want.name.tolist()
    assert unc.subdistrict.str.len().gt(0).all() and (unc.subdistrict != cs.NOT_KNOWN).any()
    # the exports: CSV (formula-safe) and GeoJSON list the same compounds
    svc.write_uncovered(unc, tmp_path / "u.csv", "csv")
    svc.write_uncovered(unc, tmp_path / "u.geojson", "geojson")
    csv = pd.read_csv(tmp_path / "u.csv", encoding="utf-8-sig", dtype=str)
    assert csv.osm_ref.tolist() == want.osm_ref.tolist()
    assert not csv.name.str.startswith(("=", "+", "-", "@")).any()
    gj = gpd.read_file(tmp_path / "u.geojson")
    assert gj.osm_ref.tolist() == want.osm_ref.tolist() and gj.geometry.notna().all()
    # another build's rows are never used for this one (a build id differs after every rebuild)
    other = tmp_path / "other.gpkg"
    shutil.copy(stored, other)
    with sqlite3.connect(other) as con:
        con.execute("UPDATE cityplan_build_info SET value = 'another-build' WHERE key = 'build_id'")
    om2 = OneMap.open(other)
    assert om2.build_stamp == "another-build" and svc.run_states(om2) == {}
    assert svc.stored_result(om2, "ice-30min") is None and svc.stored_districts(om2, "ice-30min") is None
    assert "computing" in svc.CoverageCache(om2).lookup("ice-30min")
    old = svc.stored_districts(om2, "ice-30min", build=om.build_stamp)  # an older build stays readable
    np.testing.assert_allclose(old[FIGURES].to_numpy(float), got[FIGURES].to_numpy(float))
    assert svc.stored_builds(om2).build_id.tolist() == [om.build_stamp]


def test_report_reads_the_stored_results(stored, monkeypatch, tmp_path):
    from cityplan.report import build_district_report, prepare_inputs

    def refuse(*_a, **_k):
        raise AssertionError("computed again although stored for this build")

    monkeypatch.setattr(svc, "run_coverage", refuse)
    shared = prepare_inputs(stored, presets=["ice-30min"])
    assert set(shared.transit) == {"ice-30min"}
    rep = build_district_report("南岗", shared, tmp_path / "r", maps=False)
    assert (rep.uncovered.preset == "ice-30min").sum() == len(svc.uncovered_list(OneMap.coerce(stored), "ice-30min",
                                                                                   NANGANG))


def test_one_process_computes_what_is_missing(stored, tmp_path):
    path = tmp_path / "missing.gpkg"
    shutil.copy(stored, path)
    with sqlite3.connect(path) as con:
        for t in ("cityplan_coverage_runs", "cityplan_coverage_districts"):
            con.execute(f"DELETE FROM {t} WHERE run = 'park-service-radius'")  # noqa: S608
    cs._MEMO.clear()
    first, second = svc.CoverageCache(OneMap.open(path)), svc.CoverageCache(OneMap.open(path))
    assert first.state("park-service-radius") == (svc.COMPUTING, "")
    first.start()
    second.start()  # the claim in the map's shared state is held: this one only reads
    assert svc.claimed(second.om) is not None or first.done
    first.wait(300)
    second.wait(1)
    assert first.computed == ["park-service-radius"] and second.computed == []
    assert second.done and svc.claimed(second.om) is None  # released
    ref = svc.stored_districts(OneMap.open(stored), "park-service-radius")
    pd.testing.assert_frame_equal(svc.stored_districts(OneMap.open(path), "park-service-radius"), ref)


def test_server_start_computes_what_is_missing(stored, tmp_path):
    """``cityplan serve`` starts computing the build's missing runs at start (its warm-up thread),
    before any page asks: the run is stored by the server process with no request but the start's."""
    import os
    import time

    path = tmp_path / "warm.gpkg"
    shutil.copy(stored, path)
    with sqlite3.connect(path) as con:
        for t in ("cityplan_coverage_runs", "cityplan_coverage_districts"):
            con.execute(f"DELETE FROM {t} WHERE run = 'park-service-radius'")  # noqa: S608
    s = start(str(path), tmp_path / "srv")
    try:
        deadline = time.monotonic() + 180
        while "park-service-radius" not in svc.run_states(OneMap.open(path)) and time.monotonic() < deadline:
            time.sleep(1)
        state, _why, row = svc.run_states(OneMap.open(path))["park-service-radius"]
        assert state == svc.DONE and row["computed_by"].split(":")[1] != str(os.getpid())  # the server's
    finally:
        s.stop()
    ref = svc.stored_districts(OneMap.open(stored), "park-service-radius")
    pd.testing.assert_frame_equal(svc.stored_districts(OneMap.open(path), "park-service-radius"), ref)


def _coverage_rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-preset="([^"]+)">(.*?)</tr>', html, flags=re.S))


def test_dashboards_show_the_stored_figures_and_export_the_gaps(stored, tmp_path):
    """A server process over the map `coverage store` prepared: figures at first load, the gaps
    listed and exported, nothing computed again; over a map without this build's results the
    page says it is computing and reloads itself."""
    add_accounts(str(stored))
    before = _rowids(stored)
    s = start(str(stored), tmp_path / "a")
    try:
        viewer = login(s.url, "view")
        r = viewer.get(f"/districts/{NANGANG}?preset=ice-30min")
        assert r.status_code == 200 and "Refresh" not in r.headers
        assert "computing" not in r.text and 'http-equiv="refresh"' not in r.text
        rows = _coverage_rows(r.text)
        presets = list(load_presets(OneMap.open(stored).profile))
        assert set(rows) == set(presets) and all('class="cp-existing"' in v for v in rows.values())
        om = OneMap.open(stored)
        unc = svc.uncovered_list(om, "ice-30min", NANGANG)
        assert re.search(r'class="cp-uncovered">\s*' + str(len(unc)) + r"\s*<", rows["ice-30min"])
        assert f'data-total="{len(unc)}"' in r.text and "街道 subdistrict" in r.text
        csv = viewer.get(f"/districts/{NANGANG}/uncovered.csv", params={"preset": "ice-30min"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig", dtype=str)
        assert table.osm_ref.tolist() == unc.osm_ref.tolist() and table.subdistrict.tolist() == unc.subdistrict.tolist()
        gj = json.loads(viewer.get(f"/districts/{NANGANG}/uncovered.geojson", params={"preset": "ice-30min"}).text)
        assert [f["properties"]["osm_ref"] for f in gj["features"]] == unc.osm_ref.tolist()
        xlsx = viewer.get(f"/districts/{NANGANG}/uncovered.xlsx", params={"preset": "ice-30min"})
        assert len(pd.read_excel(io.BytesIO(xlsx.content))) == len(unc)
        anon = httpx.get(f"{s.url}/districts/{NANGANG}/uncovered.csv?preset=ice-30min", follow_redirects=False)
        assert anon.status_code == 303  # the dashboard's rule: logged-in accounts only
        assert viewer.get(f"/districts/{NANGANG}/uncovered.exe").status_code == 404
    finally:
        s.stop()
    assert _rowids(stored) == before  # the server read the stored results, computed nothing
    other = tmp_path / "other.gpkg"
    shutil.copy(stored, other)
    with sqlite3.connect(other) as con:
        con.execute("UPDATE cityplan_build_info SET value = 'another-build' WHERE key = 'build_id'")
    s = start(str(other), tmp_path / "b")
    try:
        r = login(s.url, "view").get(f"/districts/{NANGANG}")
        assert r.status_code == 200 and r.headers.get("Refresh") == "15"
        assert "计算中 computing" in r.text and '<meta http-equiv="refresh" content="15">' in r.text
    finally:
        s.stop()


def test_postgis_stores_and_reads_the_same(stored, pg_server, pg_harbin_url):
    from pg_fixtures import copy_database

    url = copy_database(pg_server, pg_harbin_url, "coverstore")
    om = OneMap.open(url)
    assert svc.ensure_stored(om, ["park-service-radius"], transit=False) == {"park-service-radius": "done"}
    cs._MEMO.clear()
    again = OneMap.open(url)
    got = svc.stored_districts(again, "park-service-radius")
    ref = svc.stored_districts(OneMap.open(stored), "park-service-radius")
    np.testing.assert_allclose(got[FIGURES].to_numpy(float), ref[FIGURES].to_numpy(float), rtol=1e-9)
    unc = svc.uncovered_list(again, "park-service-radius", NANGANG)
    assert unc.osm_ref.tolist() == svc.uncovered_list(OneMap.open(stored), "park-service-radius", NANGANG).osm_ref.tolist()
    assert svc.claim(again, "test") and not svc.claim(OneMap.open(url), "other")  # one claim per build
