"""The one map in PostGIS gives the same figures as the GeoPackage (real PostgreSQL, no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from cityplan.coverage import run_coverage
from cityplan.errors import OneMapError
from cityplan.onemap import OneMap
from cityplan.progress.context import compute_progress
from cityplan.review import review_file
from cli_invoke import run
from conftest import PROPOSALS as _PROPOSALS
from pg_fixtures import copy_database

PROPOSALS = sorted(_PROPOSALS.glob("*.geojson"))


@pytest.fixture(scope="module")
def pg_map(pg_harbin_url) -> str:
    """The Harbin one map in PostGIS (built once per session, shared with the server tests)."""
    return pg_harbin_url


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI in a process of its own (concurrent readers and a rebuild); elsewhere in-process ``run``."""
    return subprocess.run([sys.executable, "-m", "cityplan", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_same_layers_and_features(onemap, pg_map):
    g, p = OneMap.open(onemap), OneMap.open(pg_map)
    assert p.kind == "postgis" and g.kind == "gpkg"
    assert g.layer_ids == p.layer_ids
    assert p.working_epsg == g.working_epsg == 4551
    for lid in ("districts", "parks", "road_graph", "plan_schools", "census_population"):
        a, b = g.layer(lid), p.layer(lid)
        assert len(a) == len(b), lid
        if "geometry" in a.columns:
            assert a.crs == b.crs
            assert a.geometry.area.sum() == pytest.approx(b.geometry.area.sum(), rel=1e-12)


def test_same_coverage_review_progress(onemap, pg_map):
    figures = {}
    for name, loc in (("gpkg", onemap), ("postgis", pg_map)):
        om = OneMap.open(loc)
        cov = run_coverage(om, preset="park-service-radius")
        reviews = {p.stem: review_file(p, onemap=om) for p in PROPOSALS}
        prog = compute_progress(om, by="district").table
        figures[name] = (cov.districts, {k: (r.verdict, r.findings) for k, r in reviews.items()}, prog)
    (cg, rg, pg), (cp, rp, pp) = figures["gpkg"], figures["postgis"]
    pd.testing.assert_frame_equal(cg, cp)
    assert rg.keys() == rp.keys() and len(rg) >= 3
    for k in rg:
        assert rg[k][0] == rp[k][0]
        pd.testing.assert_frame_equal(rg[k][1], rp[k][1])
    pd.testing.assert_frame_equal(pg.reset_index(drop=True), pp.reset_index(drop=True))


def test_cli_prints_the_same_figures(onemap, pg_map):
    a = run("progress", "--by", "district", "--format", "csv", "--onemap", str(onemap))
    b = run("progress", "--by", "district", "--format", "csv", "--onemap", pg_map)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and a.stdout.count("\n") > 20
    env_b = run("coverage", "--preset", "park-service-radius", "--no-map", "--format", "csv",
                 "--out", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"cp-{os.getpid()}"), "--overwrite",
                 env={"CITYPLAN_ONEMAP": pg_map})
    assert env_b.returncode == 0, env_b.stderr


def test_rebuild_while_readers_run(pg_server, pg_harbin_url, data, tmp_path):
    """Readers loop `cityplan progress` while the map is rebuilt: never an error, always complete."""
    url = copy_database(pg_server, pg_harbin_url, "rebuild")  # the session's build, then rebuilt below
    baseline = _cli("progress", "--format", "csv", "--onemap", url)
    assert baseline.returncode == 0, baseline.stderr
    results: list[subprocess.CompletedProcess] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            results.append(_cli("progress", "--format", "csv", "--onemap", url))

    t = threading.Thread(target=reader)
    t.start()
    try:
        time.sleep(1.0)  # readers are running
        r = _cli("build", "--city", "harbin", "--data", str(data), "--out", url, "--overwrite", "--format", "csv")
        assert r.returncode == 0, r.stderr
        time.sleep(1.0)  # and go on reading the new build
    finally:
        stop.set()
        t.join()
    assert len(results) >= 2
    for r in results:
        assert r.returncode == 0, r.stderr
        assert r.stdout == baseline.stdout


def test_bad_store_locations(pg_server, tmp_path, monkeypatch, data):
    monkeypatch.chdir(tmp_path)
    good = pg_server.new_database("bad")
    wrong = good.replace(good.split("//", 1)[1].split("@", 1)[0], "u_nobody:wrongpw")
    r = run("build", "--city", "harbin", "--data", str(data), "--out", wrong, "--layer", "census_population")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "wrongpw" not in r.stderr
    assert not (tmp_path / "postgresql:").exists()
    nopostgis = pg_server.new_database("plain", postgis=False)
    r = run("coverage", "--preset", "park-service-radius", "--onemap", nopostgis)
    assert r.returncode == 2 and "postgis" in r.stderr.lower(), r.stderr
    r = run("progress", "--onemap", good + "?schema=nothing_here")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    closed = "postgresql://u:p@127.0.0.1:9/db"
    r = run("progress", "--onemap", closed)
    assert r.returncode == 2 and "127.0.0.1:9" in r.stderr, r.stderr


@pytest.mark.parametrize("content", [b"", b"not a geopackage at all", b"SQLite format 3\x00" + b"\x00" * 200])
def test_damaged_geopackage(tmp_path, content):
    p = tmp_path / "broken.gpkg"
    p.write_bytes(content)
    with pytest.raises(OneMapError):
        OneMap.open(p)
    r = run("progress", "--onemap", str(p))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_truncated_geopackage(onemap, tmp_path):
    p = tmp_path / "cut.gpkg"
    p.write_bytes(Path(onemap).read_bytes()[: 1 << 20])
    r = run("coverage", "--preset", "park-service-radius", "--onemap", str(p), "--no-map")
    assert r.returncode == 2 and "truncated" in r.stderr, r.stderr
