"""``Store.read(where=...)`` on both backends, and GeoPackage reads while another process writes."""

from __future__ import annotations

import multiprocessing
import shutil
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from cityplan._errors import CityplanError
from cityplan.store.gpkg import GpkgStore
from cityplan.store.postgis import PostgisStore

TABLE = "cityplan_reviews"
AUDIT = "cityplan_audit"


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"review_id": [uuid.UUID(int=i).hex for i in range(n)], "hits": list(range(n)),
                         "project": ["it's ok", 'say "hi"', "x' OR '1'='1"] * (n // 3) + ["z"] * (n % 3)})


def _audit(i: int, detail: str) -> pd.DataFrame:
    return pd.DataFrame({"event_id": [uuid.uuid4().hex], "target": [str(i)], "detail": [detail]})


def _check(store) -> None:
    rows = _rows(30)
    assert store.append_rows(TABLE, rows, key=["review_id"]) == 30
    one = store.read(TABLE, where={"review_id": rows["review_id"][7]})
    assert one["hits"].tolist() == [7]
    assert store.read(TABLE, where={"hits": 12})["review_id"].tolist() == [rows["review_id"][12]]
    # quotes are values, never SQL: an injection attempt matches only its own rows
    hostile = store.read(TABLE, where={"project": "x' OR '1'='1"})
    assert sorted(hostile["hits"]) == [n for n in range(30) if n % 3 == 2]
    assert len(store.read(TABLE, where={"project": "it's ok", "hits": 3})) == 1
    assert store.read(TABLE, where={"review_id": "nothing"}).empty
    slim = store.table_or_empty(TABLE, columns=["review_id"], where={"hits": 4})
    assert list(slim.columns) == ["review_id"] and len(slim) == 1
    with pytest.raises(CityplanError, match="no column 'nope'"):
        store.read(TABLE, where={"nope": 1})


def test_where_geopackage(onemap: Path, tmp_path: Path) -> None:
    p = tmp_path / "m.gpkg"
    shutil.copy(onemap, p)
    _check(GpkgStore(p))


def test_where_postgis(pg_url: str) -> None:
    from test_store_postgis import sample_payload

    store = PostgisStore(f"{pg_url}?schema=w_{uuid.uuid4().hex[:8]}")
    try:
        store.replace_map(sample_payload(), overwrite=False)
        _check(store)
    finally:
        store.close()


def _writer(path: str, seconds: float) -> None:
    store = GpkgStore(Path(path))
    stop = time.monotonic() + seconds
    i = 0
    while time.monotonic() < stop:
        store.append_rows(AUDIT, _audit(i, "x" * 2000))
        i += 1


def test_reads_never_fail_while_another_process_commits(onemap: Path, tmp_path: Path) -> None:
    """Another process appending as fast as it can never makes a read fail (SQLITE_BUSY while it
    commits is retried)."""
    p = tmp_path / "m.gpkg"
    shutil.copy(onemap, p)
    GpkgStore(p).append_rows(AUDIT, _audit(-1, "x"))
    proc = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(p), 6.0))
    proc.start()
    reads = 0
    try:
        reader = GpkgStore(p)
        while proc.is_alive():
            t = reader.read(AUDIT, where={"target": "-1"})
            assert len(t) == 1
            assert not reader.read("districts").empty
            reads += 1
    finally:
        proc.join()
    assert proc.exitcode == 0
    assert reads > 20


def test_reads_and_writes_of_one_process_never_collide(onemap: Path, tmp_path: Path) -> None:
    """GDAL (pyogrio) reads in one thread while ``sqlite3`` appends in another, in one process - as
    the server reads accounts and layers while it records reviews and audit rows. GDAL carries its
    own SQLite: unguarded, its reads fail with "attempt to write a readonly database" within a
    second or two, and its closing the file drops the writer's POSIX locks."""
    import threading

    p = tmp_path / "m.gpkg"
    shutil.copy(onemap, p)
    store = GpkgStore(p)
    store.append_rows(AUDIT, _audit(-1, "x"))
    stop = time.monotonic() + 5.0
    written: list[int] = []
    failed: list[BaseException] = []

    def write() -> None:
        try:
            w = GpkgStore(p)
            while time.monotonic() < stop:
                w.append_rows(AUDIT, _audit(len(written), "y" * 500))
                written.append(1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    t = threading.Thread(target=write)
    t.start()
    reads = 0
    try:
        while time.monotonic() < stop:
            assert len(store.read(AUDIT, where={"target": "-1"})) == 1
            reads += 1
    finally:
        t.join()
    assert not failed, failed
    assert reads > 20 and len(written) > 20
    assert len(GpkgStore(p).read(AUDIT)) == len(written) + 1
