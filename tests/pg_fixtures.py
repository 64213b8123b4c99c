"""PostgreSQL fixtures: one throw-away PostGIS cluster per test session (see pgserver.py).

Without the Debian binaries the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from pgserver import PgServer, missing_binaries


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's running cluster (``new_database()`` makes a fresh PostGIS database)."""
    why = missing_binaries()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL/PostGIS needed in CI: {why}")
        pytest.skip(why)
    server = PgServer()
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """URL of a PostGIS database, password-authenticated over TCP: postgresql://u:pw@127.0.0.1:P/db."""
    return pg_server.new_database("session")


@pytest.fixture(scope="session")
def pg_harbin_url(pg_server: PgServer, data) -> str:
    """The Harbin one map built once per session into a fresh PostGIS database (schema ``harbin``).

    Tests that write to the one map (accounts, reviews, progress) use a :func:`copy_database` of
    it, so every reader of this URL sees the build as made.
    """
    from cityplan.build import build_onemap

    url = pg_server.new_database("harbin") + "?schema=harbin"
    build_onemap(city="harbin", data=data, out=url)
    return url


def copy_database(pg_server: PgServer, url: str, prefix: str = "copy") -> str:
    """A new database copied from the one ``url`` names (its URL, same query string).

    PostgreSQL copies a database only while nobody is connected to it: this process's and any
    other open connections to the source are ended first (their next query fails).
    """
    from urllib.parse import urlsplit

    from psycopg import sql

    parts = urlsplit(url)
    source = parts.path.lstrip("/")
    name = f"{prefix}_{secrets.token_hex(3)}_{source}"[:63]
    with pg_server.superuser() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                     "AND pid <> pg_backend_pid()", (source,))
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                             (source,)).fetchone()[0]
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(source), sql.Identifier(owner)))
    return parts._replace(path="/" + name).geturl()
