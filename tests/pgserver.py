"""A throw-away PostgreSQL/PostGIS cluster for tests (Debian's postgresql-15 binaries).

The cluster lives in a temp folder owned by ``postgres`` (initdb refuses to run as root, so as
root every server command goes through ``runuser -u postgres --``), listens on a free loopback
port with scram-sha-256 password authentication over TCP (so wrong-password tests are real)
and trusts only its private unix socket, which the fixtures use for superuser work.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

PG_BIN = Path(os.environ.get("CITYPLAN_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
USER = "cityplan_test"
TEMPLATE = "cityplan_template_postgis"


def missing_binaries() -> str | None:
    """Why a cluster cannot be made here (None when it can)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} missing (install postgresql-15: scripts/ensure-system-deps.sh)"
    if not POSTGIS_CONTROL.exists():
        return f"{POSTGIS_CONTROL} missing (install postgresql-15-postgis-3)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One temporary cluster: :meth:`start`, :meth:`new_database`, :meth:`stop`."""

    def __init__(self, state: dict | None = None) -> None:
        """A new cluster to :meth:`start`, or (``state`` from :meth:`state`) one another process
        of the same test run started, to use and leave running."""
        state = state or {}
        self.root = Path(state.get("root") or tempfile.mkdtemp(prefix="cityplan-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.port = int(state.get("port") or free_port())
        self.password = state.get("password") or secrets.token_urlsafe(12)
        self._as_root = os.geteuid() == 0
        self._n = 0

    def state(self) -> dict:
        """What :class:`PgServer` needs to attach to this running cluster (JSON-able)."""
        return {"root": str(self.root), "port": self.port, "password": self.password}

    # -- process control -------------------------------------------------------------
    def _run(self, *args: str | os.PathLike[str]) -> None:
        cmd = [str(a) for a in args]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=self.root)

    def start(self) -> PgServer:
        """initdb, start on the loopback port, create the test role and a PostGIS template."""
        self.sock.mkdir()
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            for p in (self.root, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o755)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=120")
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.root / "server.log",
                  "-w", "-t", "60", "start")
        with self.superuser() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(USER), sql.Literal(self.password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(TEMPLATE), sql.Identifier(USER)))
        with self.superuser(TEMPLATE) as conn:
            conn.execute("CREATE EXTENSION postgis")
        return self

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------
    def superuser(self, dbname: str = "postgres") -> psycopg.Connection:
        """A superuser connection over the private unix socket (autocommit)."""
        return psycopg.connect(host=str(self.sock), port=self.port, user="postgres",
                               dbname=dbname, autocommit=True)

    def url(self, dbname: str, *, password: str | None = None, schema: str | None = None,
            port: int | None = None) -> str:
        """``postgresql://`` URL of the password-authenticated test role."""
        pw = self.password if password is None else password
        tail = f"?schema={schema}" if schema else ""
        return f"postgresql://{USER}:{pw}@127.0.0.1:{port or self.port}/{dbname}{tail}"

    def new_database(self, prefix: str = "db", *, postgis: bool = True) -> str:
        """A fresh database owned by the test role (from the PostGIS template); its URL."""
        self._n += 1
        name = f"{prefix}_{self._n}_{secrets.token_hex(4)}"  # unique across the processes sharing it
        template = TEMPLATE if postgis else "template0"
        with self.superuser() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.Identifier(USER)))
        return self.url(name)
