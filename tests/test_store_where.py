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

TABLE = "cityplan_reviews_where_test"


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"review_id": [uuid.UUID(int=i).hex for i in range(n)], "n": list(range(n)),
                         "note": ["it's ok", 'say "hi"', "x' OR '1'='1"] * (n // 3) + ["z"] * (n % 3)})


def _check(store) -> None:
    rows = _rows(30)
    assert store.append_rows(TABLE, rows, key=["review_id"]) == 30
    one = store.read(TABLE, where={"review_id": rows["review_id"][7]})
    assert one["n"].tolist() == [7]
    assert store.read(TABLE, where={"n": 12})["review_id"].tolist() == [rows["review_id"][12]]
    # quotes are values, never SQL: an injection attempt matches only its own rows
    hostile = store.read(TABLE, where={"note": "x' OR '1'='1"})
    assert sorted(hostile["n"]) == [n for n in range(30) if n % 3 == 2]
    assert len(store.read(TABLE, where={"note": "it's ok", "n": 3})) == 1
    assert store.read(TABLE, where={"review_id": "nothing"}).empty
    slim = store.table_or_empty(TABLE, columns=["review_id"], where={"n": 4})
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
        store.append_rows("cityplan_audit_where_test", pd.DataFrame({"i": [i], "what": ["x" * 2000]}))
        i += 1


def test_reads_never_fail_while_another_process_commits(onemap: Path, tmp_path: Path) -> None:
    """Another process appending as fast as it can never makes a read fail (SQLITE_BUSY while it
    commits is retried)."""
    p = tmp_path / "m.gpkg"
    shutil.copy(onemap, p)
    GpkgStore(p).append_rows("cityplan_audit_where_test", pd.DataFrame({"i": [-1], "what": ["x"]}))
    proc = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(p), 6.0))
    proc.start()
    reads = 0
    try:
        reader = GpkgStore(p)
        while proc.is_alive():
            t = reader.read("cityplan_audit_where_test", where={"i": -1})
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
    store.append_rows("cityplan_audit_where_test", pd.DataFrame({"i": [-1], "what": ["x"]}))
    stop = time.monotonic() + 5.0
    written: list[int] = []
    failed: list[BaseException] = []

    def write() -> None:
        try:
            w = GpkgStore(p)
            while time.monotonic() < stop:
                w.append_rows("cityplan_audit_where_test", pd.DataFrame({"i": [len(written)], "what": ["y" * 500]}))
                written.append(1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    t = threading.Thread(target=write)
    t.start()
    reads = 0
    try:
        while time.monotonic() < stop:
            assert len(store.read("cityplan_audit_where_test", where={"i": -1})) == 1
            reads += 1
    finally:
        t.join()
    assert not failed, failed
    assert reads > 20 and len(written) > 20
    assert len(GpkgStore(p).read("cityplan_audit_where_test")) == len(written) + 1
