"""Several `cityplan serve` processes on one map share sessions and login limits (issue #24):
log in on one, act on the other; a restart keeps the session; wrong passwords spread over both
lock the account. GeoPackage (two processes on one host) and PostGIS (as two hosts would)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from server_process import PASSWORD, Served, add_accounts, login, login_form, start, token

ACCOUNTS = {"admin": ("admin", None), "view": ("viewer", None)}


def _as(url: str, cookie: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60, follow_redirects=False, headers={"Cookie": f"cp_session={cookie}"})


def _shared(location: str, work: Path) -> None:
    one, two = start(location, work / "one"), start(location, work / "two")
    servers: list[Served] = [one, two]
    try:
        c = login(one.url, "admin")
        cookie = c.cookies["cp_session"]
        other = _as(two.url, cookie)
        assert other.get("/").status_code == 200  # the session made on one is valid on the other
        assert httpx.get(two.url + "/", follow_redirects=False).status_code in (302, 303, 307)  # no cookie: login
        # restart the first: the session lives on
        one.stop()
        one = start(location, work / "one-again")
        servers.append(one)
        assert _as(one.url, cookie).get("/").status_code == 200
        # logging out on the second ends it on the first too
        r = other.post("/logout", data={"csrf_token": token(other.get("/").text)}, headers={"Origin": two.url})
        assert r.status_code == 303
        assert _as(one.url, cookie).get("/", follow_redirects=False).status_code in (302, 303, 307)
        # five wrong passwords spread over both lock the account: the right one is then refused on either
        a, b = httpx.Client(base_url=one.url, timeout=60), httpx.Client(base_url=two.url, timeout=60)
        for i in range(5):
            cl = a if i % 2 else b
            assert cl.post("/login", data=login_form(cl, "view", "wrong password!")).status_code == 401
        for cl in (a, b):
            r = cl.post("/login", data=login_form(cl, "view", PASSWORD))
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert login(two.url, "admin").cookies["cp_session"]  # another account is not locked
    finally:
        for s in servers:
            s.stop()


@pytest.mark.slow
def test_two_servers_on_one_geopackage(synthetic_onemap: Path, tmp_path: Path) -> None:
    loc = tmp_path / "map.gpkg"
    shutil.copy(synthetic_onemap, loc)
    add_accounts(str(loc), ACCOUNTS)
    _shared(str(loc), tmp_path)


@pytest.mark.slow
def test_two_servers_on_one_postgis_map(synthetic_onemap: Path, pg_url: str, tmp_path: Path) -> None:
    from cityplan.build import build_onemap

    city = synthetic_onemap.parent / "city"
    url = f"{pg_url}?schema=scale_{uuid.uuid4().hex[:6]}"
    build_onemap(city=city, data=city, out=url)
    add_accounts(url, ACCOUNTS)
    _shared(url, tmp_path)


@pytest.mark.slow
def test_serve_workers_share_one_port(synthetic_onemap: Path, tmp_path: Path) -> None:
    """``--workers 2``: two processes behind one port; whichever answers knows the session."""
    loc = tmp_path / "map.gpkg"
    shutil.copy(synthetic_onemap, loc)
    add_accounts(str(loc), ACCOUNTS)
    s = start(str(loc), tmp_path, extra=("--workers", "2", "--review-workers", "0"))
    try:
        c = login(s.url, "admin")
        cookie = c.cookies["cp_session"]
        codes = {_as(s.url, cookie).get("/").status_code for _ in range(20)}  # new connections each time
        assert codes == {200}
    finally:
        s.stop()


@pytest.mark.slow
def test_a_server_holds_at_most_its_pool_of_database_connections(synthetic_onemap: Path, pg_server,
                                                                 tmp_path: Path) -> None:
    """Forty clients at once against one server with --db-pool 2: every answer 200, and the
    database never sees more than two connections from it (each thread used to keep its own)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    import psycopg

    from cityplan.build import build_onemap

    city = synthetic_onemap.parent / "city"
    pg_url = pg_server.new_database("pool")  # its own database: nothing else connects to it
    url = f"{pg_url}?schema=pool"
    build_onemap(city=city, data=city, out=url)
    s = start(url, tmp_path, extra=("--db-pool", "2", "--review-workers", "0"))
    db = urlsplit(pg_url).path.strip("/")
    peak, stop = [0], threading.Event()

    def watch() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while not stop.is_set():
                n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                 (db,)).fetchone()[0]
                peak[0] = max(peak[0], n)
                stop.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        collections = httpx.get(s.url + "/ogc/collections", headers={"Accept": "application/json"}, timeout=60).json()
        ids = [c["id"] for c in collections["collections"]][:8]
        assert ids

        def fetch(i: int) -> int:
            cid = ids[i % len(ids)]
            return httpx.get(f"{s.url}/ogc/collections/{cid}/items?limit=50&offset={i}",
                             headers={"Accept": "application/geo+json"}, timeout=120).status_code

        with ThreadPoolExecutor(40) as ex:
            codes = list(ex.map(fetch, range(120)))
    finally:
        stop.set()
        watcher.join()
        s.stop()
    assert set(codes) == {200}, codes
    assert 1 <= peak[0] <= 2, peak[0]
