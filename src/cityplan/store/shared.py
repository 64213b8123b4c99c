"""Shared state of the server processes serving one map: small declared tables whose rows are
replaced and deleted (sessions, failed logins), reached through :meth:`Store.shared`.

The GeoPackage backend keeps them in a SQLite file beside the map (WAL mode; every process on
the host sees the same rows); PostGIS in the map's schema (every host sees them). Both speak the
same SQL: the declaration (:mod:`cityplan.store.tables`) makes the table, the unique key makes
``INSERT ... ON CONFLICT`` an upsert.
"""

from __future__ import annotations

import abc
import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cityplan._errors import SchemaError
from cityplan.store.tables import Table, ddl


class SharedState(abc.ABC):
    """Upsert, select and delete rows of the declared shared tables."""

    #: placeholder of the database driver
    mark = "?"

    def __init__(self) -> None:
        self._made: set[str] = set()
        self._lock = threading.Lock()

    @abc.abstractmethod
    def _name(self, table: Table) -> str:
        """The quoted (qualified) table name."""

    @abc.abstractmethod
    def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], *, fetch: bool = False) -> tuple[list[tuple], int]:
        """Run statements in one transaction; the rows of the last (``fetch``) and rows changed."""

    @abc.abstractmethod
    def _dialect(self) -> str:
        """``sqlite`` or ``postgres``."""

    def _ensure(self, table: Table) -> list[tuple[str, Sequence[Any]]]:
        if not table.mutable:
            raise SchemaError(f"{table.name} is an append-only ledger, not shared state; use Store.append_rows")
        with self._lock:
            if table.name in self._made:
                return []
        return [*self._guard(table), *((s, ()) for s in ddl(table, self._dialect(), qualified=self._name(table)))]  # type: ignore[arg-type]

    def _guard(self, table: Table) -> list[tuple[str, Sequence[Any]]]:
        """Statements run before creating ``table`` (PostgreSQL: a lock, so two processes
        creating it at once do not deadlock)."""
        return []

    def _made_now(self, table: Table) -> None:
        with self._lock:
            self._made.add(table.name)

    def _where(self, table: Table, where: Mapping[str, Any], before: tuple[str, str] | None) -> tuple[str, list[Any]]:
        parts, params = [], []
        for c, v in where.items():
            if c not in table.names:
                raise SchemaError(f"{table.name}: no column {c!r}")
            parts.append(f'"{c}" = {self.mark}')
            params.append(v)
        if before is not None:
            c, v = before
            if c not in table.names:
                raise SchemaError(f"{table.name}: no column {c!r}")
            parts.append(f'"{c}" < {self.mark}')
            params.append(v)
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    def upsert(self, table: Table, row: Mapping[str, Any]) -> None:
        """Insert ``row``, or replace the row with its key."""
        values = table.row(row)
        cols = ", ".join(f'"{c}"' for c in table.names)
        marks = ", ".join(self.mark for _ in table.names)
        keys = ", ".join(f'"{c}"' for c in table.key)
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in table.names if c not in table.key)
        stmt = (f"INSERT INTO {self._name(table)} ({cols}) VALUES ({marks}) "  # noqa: S608
                f"ON CONFLICT ({keys}) DO UPDATE SET {sets}")
        self._run([*self._ensure(table), (stmt, values)])
        self._made_now(table)

    def insert(self, table: Table, row: Mapping[str, Any]) -> bool:
        """Insert ``row`` unless its key is there (True when inserted)."""
        values = table.row(row)
        cols = ", ".join(f'"{c}"' for c in table.names)
        marks = ", ".join(self.mark for _ in table.names)
        stmt = f"INSERT INTO {self._name(table)} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608
        _, n = self._run([*self._ensure(table), (stmt, values)])
        self._made_now(table)
        return n > 0

    def select(self, table: Table, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows matching ``where`` (column = value for each item)."""
        clause, params = self._where(table, where or {}, None)
        cols = ", ".join(f'"{c}"' for c in table.names)
        rows, _ = self._run([*self._ensure(table), (f"SELECT {cols} FROM {self._name(table)}{clause}", params)],  # noqa: S608
                            fetch=True)
        self._made_now(table)
        return [dict(zip(table.names, r, strict=True)) for r in rows]

    def delete(self, table: Table, where: Mapping[str, Any] | None = None, *,
               before: tuple[str, str] | None = None) -> int:
        """Delete the rows matching ``where`` (and, with ``before=(column, value)``, column < value)."""
        clause, params = self._where(table, where or {}, before)
        _, n = self._run([*self._ensure(table), (f"DELETE FROM {self._name(table)}{clause}", params)])  # noqa: S608
        self._made_now(table)
        return n


class SqliteState(SharedState):
    """Shared tables in a SQLite file (WAL, so readers never wait for a writer)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)

    def _name(self, table: Table) -> str:
        return f'"{table.name}"'

    def _dialect(self) -> str:
        return "sqlite"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            yield con
        finally:
            con.close()

    def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], *, fetch: bool = False) -> tuple[list[tuple], int]:
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                before = con.total_changes
                cur = None
                for stmt, params in statements:
                    cur = con.execute(stmt, tuple(params))
                rows = cur.fetchall() if fetch and cur is not None else []
                changed = con.total_changes - before
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return rows, changed
