"""The check-up: 3 synthetic cities on a Dask LocalCluster equal 3 serial coverage runs; a broken
city is reported and the others complete; --cities LIST with a missing path; the synthetic
country (every copy gives the source's numbers)."""

from __future__ import annotations

import json
import shutil
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from cityplan.checkup.cities import CheckupError, read_cities
from cityplan.checkup.outputs import OUTPUT_FILES
from cityplan.checkup.run import run_checkup
from cityplan.checkup.synthetic import synthetic_country
from cityplan.coverage import run_coverage
from cityplan.onemap import OneMap
from cli_invoke import run

PRESETS = ("park-service-radius", "primary-school-500m")  # one euclid, one network preset
LEAD = ["city", "district", "preset", "scenario", "population_share", "area_share", "target", "met"]


@pytest.fixture(scope="module")
def country(tmp_path_factory, onemap):
    folder = tmp_path_factory.mktemp("country")
    paths = synthetic_country(3, folder, source=onemap)
    return folder, paths


@pytest.fixture(scope="module")
def serial(country):
    """The reference: run_coverage on each city, one preset at a time, in this process."""
    _, paths = country
    return {(p.stem, pr): _table(run_coverage(p, preset=pr)) for p in paths for pr in PRESETS}


def _table(res) -> pd.DataFrame:
    t = res.by_scenario if getattr(res, "by_scenario", None) is not None else res.districts
    return t.reset_index(drop=True)


@pytest.fixture(scope="module")
def dask_run(country, tmp_path_factory):
    folder, _ = country
    (folder / "broken.gpkg").write_bytes(b"")  # a city whose one map is a zero-byte file
    out = tmp_path_factory.mktemp("checkup")
    res = run_checkup(folder, presets=",".join(PRESETS), workers=2, out=out)
    return res, out


def test_synthetic_copies_are_flagged_moved_and_new_builds(country, onemap):
    _, paths = country
    src = OneMap.open(onemap)
    stamps = {src.build_stamp}
    d0 = src.layer_for("districts").to_crs(src.working_crs).total_bounds
    for k, p in enumerate(paths):
        om = OneMap.open(p)
        assert om.build_info["synthetic"].startswith("synthetic copy of ")
        assert f"copy {k} of 3" in om.build_info["synthetic"]
        assert om.working_crs == src.working_crs
        assert om.catalog["description"].str.startswith("[synthetic copy").all()
        stamps.add(om.build_stamp)
        moved = om.layer_for("districts").to_crs(om.working_crs).total_bounds - d0
        dx, dy = json.loads(om.build_info["synthetic_offset_m"])
        assert np.allclose(moved, [dx, dy, dx, dy], atol=1e-3)
        with sqlite3.connect(p) as con:
            n = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'cityplan_cache'").fetchone()[0]
            assert n == 0 or con.execute("SELECT count(*) FROM cityplan_cache").fetchone()[0] == 0
    assert len(stamps) == 4  # every copy is its own build: caches are never shared
    assert len({tuple(json.loads(OneMap.open(p).build_info["extract_bbox"])) for p in paths}) == 3


def test_every_copy_gives_the_source_numbers(serial, onemap):
    cols = ["district", "scenario", "population", "population_share", "area_share", "residential_area_m2",
            "residential_area_covered_m2", "features_covered"]
    for pr in PRESETS:
        ref = _table(run_coverage(onemap, preset=pr))[cols]
        for city in ("synth-000", "synth-001", "synth-002"):
            pd.testing.assert_frame_equal(serial[(city, pr)][cols], ref)


def test_dask_checkup_equals_serial_runs(dask_run, serial):
    res, _ = dask_run
    t = res.table
    assert list(t.columns[: len(LEAD)]) == LEAD
    assert res.workers == 2 and "LocalCluster" in res.scheduler
    for (city, pr), ref in serial.items():
        got = t[(t.city == city) & (t.preset == pr)].reset_index(drop=True)
        assert len(got) == len(ref) > 0
        assert got["district"].tolist() == ref["district"].astype(str).tolist()
        assert got["scenario"].tolist() == ref["scenario"].astype(str).tolist()
        for a, b in (("population_share", "population_share"), ("area_share", "area_share")):
            assert np.array_equal(got[a].to_numpy(float), ref[b].to_numpy(float), equal_nan=True), (city, pr, a)
        if "target_min" in ref.columns:
            assert (got["target"] == ref["target_min"]).all()
            meets = ref["meets_target"]
            assert [None if pd.isna(m) else bool(m) for m in got["met"]] == \
                   [None if m is None or (isinstance(m, float) and np.isnan(m)) else bool(m) for m in meets]
        else:
            assert got["target"].isna().all() and got["met"].isna().all()


def test_broken_city_is_reported_and_the_others_complete(dask_run):
    res, out = dask_run
    assert set(res.table["city"]) == {"synth-000", "synth-001", "synth-002"}
    err = pd.read_csv(out / "errors.csv", encoding="utf-8-sig")
    assert err["city"].tolist() == ["broken"]
    line = err["error"].iloc[0]
    assert "broken.gpkg" in line and "0 bytes" in line and "\n" not in line
    for name in OUTPUT_FILES:
        assert (out / name).stat().st_size > 0, name
    csv = pd.read_csv(out / "checkup.csv", encoding="utf-8-sig")
    assert list(csv.columns[: len(LEAD)]) == LEAD
    assert len(csv) == len(res.table)
    geo = gpd.read_parquet(out / "checkup.parquet")
    assert geo.crs.to_epsg() == 4326 and geo.geometry.notna().all()
    page = (out / "overview.html").read_text(encoding="utf-8")
    assert "synth-001" in page and "failed" in page
    summary = pd.read_excel(out / "checkup.xlsx", sheet_name="cities")
    assert summary.set_index("city").loc["broken", "status"] == "failed"


def test_cities_list_with_a_missing_path_and_a_formula_name(country, tmp_path):
    _, paths = country
    odd = tmp_path / "=SUM(1+1).gpkg"  # a city name that would be a spreadsheet formula
    shutil.copyfile(paths[0], odd)
    lst = tmp_path / "cities.txt"
    lst.write_text(f"# two cities and a gone one\n{odd}\n\n{tmp_path / 'gone.gpkg'}  # moved away\n",
                   encoding="utf-8")
    assert [c.name for c in read_cities(lst)] == ["=SUM(1+1)", "gone"]
    out = tmp_path / "out"
    cmd = ["checkup", "--cities", str(lst), "--presets", PRESETS[0], "--scheduler", "serial", "--out", str(out)]
    r = run(*cmd)
    assert r.returncode == 0, r.stderr
    assert "gone" in r.stderr and "one map not found" in r.stderr
    err = pd.read_csv(out / "errors.csv", encoding="utf-8-sig")
    assert err["city"].tolist() == ["gone"]
    text = (out / "checkup.csv").read_text(encoding="utf-8-sig")
    assert "\n=SUM" not in text and "'=SUM(1+1)" in text  # neutralised, never a formula
    again = run(*cmd)
    assert again.returncode == 2 and "--overwrite" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_bad_requests_are_one_line_user_errors(tmp_path, synthetic_onemap):
    with pytest.raises(CheckupError, match="no such folder or list file"):
        read_cities(tmp_path / "nowhere")
    with pytest.raises(CheckupError, match=r"no \*.gpkg"):
        read_cities(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.gpkg").write_bytes(b"")
    lst = tmp_path / "l.txt"
    lst.write_text(f"{tmp_path / 'a' / 'x.gpkg'}\n{tmp_path / 'x.gpkg'}\n", encoding="utf-8")
    with pytest.raises(CheckupError, match="two cities are named 'x'"):
        read_cities(lst)
    with pytest.raises(CheckupError, match="unknown preset"):  # checked against the first city's profile
        run_checkup([str(synthetic_onemap)], presets="no-such-preset", scheduler="serial")


def test_local_workers_run_without_the_sampling_profiler():
    """The check-up's LocalCluster workers start with LOCAL_WORKER_CONFIG (no 10 ms stack sampling
    under the GIL, 1 s event-loop ticks), and this process's own Dask config is left as it was."""
    import dask
    from distributed import Client

    from cityplan.checkup.run import LOCAL_WORKER_CONFIG, local_cluster

    before = {k: dask.config.get(k) for k in LOCAL_WORKER_CONFIG}
    assert before["distributed.worker.profile.enabled"] is True  # Dask's default, so the test can fail
    cluster = local_cluster(1)
    try:
        with Client(cluster) as client:
            got = client.run(lambda: {k: dask.config.get(k) for k in LOCAL_WORKER_CONFIG})
            # the worker itself started no profile loop (it reads the setting once, at start)
            periodic = client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks))
    finally:
        cluster.close()
    assert len(got) == 1
    assert next(iter(got.values())) == LOCAL_WORKER_CONFIG
    callbacks = next(iter(periodic.values()))
    assert callbacks and "profile" not in callbacks and "profile-cycle" not in callbacks
    assert {k: dask.config.get(k) for k in LOCAL_WORKER_CONFIG} == before
