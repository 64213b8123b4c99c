"""PostgreSQL fixtures: one throw-away PostGIS cluster per test run (see pgserver.py).

Under pytest-xdist the first worker that needs the cluster starts it and the others use it (see
run_once.py); the controller stops it once every worker is done. The Harbin build in PostGIS is
likewise made once per run.

Without the Debian binaries the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from pgserver import PgServer, missing_binaries
from run_once import at_end_of_run, once, worker

#: database name -> name of its untouched copy that :func:`copy_database` copies instead (nobody
#: connects to it, so copying it never ends another test's connections)
PRISTINE: dict[str, str] = {}


def _started() -> PgServer:
    server = PgServer()
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    return server


def stop_cluster(**state: str | int) -> None:
    """Stop the cluster :meth:`PgServer.state` describes (the xdist controller, at the end)."""
    PgServer(state).stop()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """The run's running cluster (``new_database()`` makes a fresh PostGIS database)."""
    why = missing_binaries()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL/PostGIS needed in CI: {why}")
        pytest.skip(why)
    if worker() is None:
        server = _started()
        yield server
        server.stop()
        return

    def make(_folder) -> dict:
        server = _started()
        at_end_of_run(tmp_path_factory, "pg_server", server.stop, **server.state())
        return server.state()

    yield PgServer(once(tmp_path_factory, "pg_server", make))


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """URL of a PostGIS database, password-authenticated over TCP: postgresql://u:pw@127.0.0.1:P/db."""
    return pg_server.new_database("session")


def _dbname(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path.lstrip("/")


@pytest.fixture(scope="session")
def pg_harbin_url(pg_server: PgServer, data, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Harbin one map built once per run into a fresh PostGIS database (schema ``harbin``).

    Tests that write to the one map (accounts, reviews, progress) use a :func:`copy_database` of
    it, so every reader of this URL sees the build as made. The copies are made from a pristine
    copy taken right after the build, so making one never disturbs a test reading this URL.
    """

    def make(_folder) -> tuple[str, str]:
        from cityplan.build import build_onemap

        url = pg_server.new_database("harbin") + "?schema=harbin"
        build_onemap(city="harbin", data=data, out=url)
        pristine = copy_database(pg_server, url, "pristine")
        return url, _dbname(pristine)

    url, pristine = once(tmp_path_factory, "pg_harbin", make)
    PRISTINE[_dbname(url)] = pristine
    return url


def copy_database(pg_server: PgServer, url: str, prefix: str = "copy") -> str:
    """A new database copied from the one ``url`` names (its URL, same query string).

    PostgreSQL copies a database only while nobody is connected to it: this process's and any
    other open connections to the source are ended first (their next query fails), except for
    a source with a pristine copy (:data:`PRISTINE`, the session's PostGIS Harbin build), which
    is copied from that copy, leaving the source's readers alone.
    """
    from urllib.parse import urlsplit

    from psycopg import sql

    parts = urlsplit(url)
    source = parts.path.lstrip("/")
    name = f"{prefix}_{secrets.token_hex(4)}_{source}"[:63]
    source = PRISTINE.get(source, source)
    with pg_server.superuser() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                     "AND pid <> pg_backend_pid()", (source,))
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                             (source,)).fetchone()[0]
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(source), sql.Identifier(owner)))
    return parts._replace(path="/" + name).geturl()
