"""Bounded work for reviews (issue #25): a GeoPackage whose layer is a never-ending or very costly
SQL view is refused before any reader opens it, and a review past its time limit has its worker
killed and replaced - the next review runs on a fresh worker."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from cityplan._errors import SchemaError
from cityplan.io.read import read_vector
from cityplan.io.sqlite_guard import check_views


def _gpkg_with_view(path: Path, view_sql: str, rows: int = 3) -> Path:
    gdf = gpd.GeoDataFrame({"n": list(range(rows))}, geometry=[shapely.box(i, 0, i + 0.5, 0.5) for i in range(rows)],
                           crs=4326)
    gdf.to_file(path, layer="t", driver="GPKG")
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE VIEW v AS {view_sql}")
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('v', 'features', 'v', 4326)")
        con.execute("INSERT INTO gpkg_geometry_columns VALUES ('v', 'geom', 'POLYGON', 4326, 0, 0)")
    return path


def test_a_recursive_view_is_refused_at_once(tmp_path: Path) -> None:
    p = _gpkg_with_view(tmp_path / "loop.gpkg", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                        "SELECT t.fid AS fid, t.geom AS geom FROM c, t")
    t0 = time.monotonic()
    with pytest.raises(SchemaError, match="recursive SQL view") as err:
        read_vector(p, layer="v")
    assert time.monotonic() - t0 < 5
    assert str(p) in str(err.value) and len(str(err.value).splitlines()) == 1


def test_a_costly_view_is_stopped_within_its_budget(tmp_path: Path) -> None:
    p = _gpkg_with_view(tmp_path / "cross.gpkg", "SELECT a.fid AS fid, a.geom AS geom FROM t a, t b, t c, t d",
                        rows=400)  # 400^4 = 25.6 billion rows
    t0 = time.monotonic()
    with pytest.raises(SchemaError, match="too costly"):
        check_views(p)
    assert time.monotonic() - t0 < 10


def test_a_cheap_view_reads(tmp_path: Path) -> None:
    p = _gpkg_with_view(tmp_path / "ok.gpkg", "SELECT fid, geom, n FROM t WHERE n > 0")
    assert len(read_vector(p, layer="v")) == 2
    assert len(read_vector(p, layer="t")) == 3


def test_a_review_past_its_time_limit_is_stopped_and_its_worker_replaced(synthetic_onemap: Path,
                                                                         tmp_path: Path) -> None:
    from cityplan.onemap import OneMap
    from cityplan.services.review_pool import ReviewPool

    loc = tmp_path / "map.gpkg"
    shutil.copy(synthetic_onemap, loc)
    om = OneMap.open(loc)
    x0, y0, x1, y1 = om.extent
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    red = tmp_path / "red.geojson"
    red.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[cx, cy], [cx + 0.002, cy], [cx + 0.002, cy + 0.002], [cx, cy + 0.002],
                                            [cx, cy]]]}}]}))
    pool = ReviewPool(om, str(loc), workers=1, tmpdir=str(tmp_path), time_limit=0.05)

    pool.start()

    async def run() -> tuple:
        first_ex = pool._exec
        stopped = await pool.review(str(red), crs="EPSG:4326", facility_type=None, display="red.geojson")
        replaced = pool._exec
        pool.time_limit = 300
        done = await pool.review(str(red), crs="EPSG:4326", facility_type=None, display="red.geojson")
        return first_ex, stopped, replaced, done

    try:
        first_ex, stopped, replaced, done = asyncio.run(run())
    finally:
        pool.shutdown()
    assert stopped.status == 422 and "stopped after" in stopped.error and "time limit" in stopped.error
    assert first_ex is not None and replaced is not None and replaced is not first_ex  # new workers
    assert all(not p.is_alive() for p in first_ex._processes.values()) if first_ex._processes else True
    assert not done.error and done.verdict  # the next review ran on the new worker
