"""PostgreSQL fixtures: one throw-away PostGIS cluster per test session (see pgserver.py).

Without the Debian binaries the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
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
