"""The embedded backend: one GeoPackage file (the default one map).

Layers are written with pyogrio; the build/cache/append-only tables with SQLite
transactions. Writers take an exclusive ``flock`` on ``FILE.lock`` so an append can never
fall between a rebuild's copy of the append-only tables and its rename; readers never lock
(a rebuild renames a complete file over the old one, so a reader that opened the old file
keeps reading it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors

from cityplan._errors import OneMapError, OutputExistsError
from cityplan.store.base import (
    BUILD_COLUMNS,
    BUILD_TABLES,
    CACHE_TABLE,
    DEFAULT_KEEP,
    INFO_TABLE,
    PROFILE_TABLE,
    STYLES_TABLE,
    BuildPayload,
    Store,
)
from cityplan.store.shared import SqliteState
from cityplan.store.sqltypes import arrays_from_rows, arrays_to_rows, sql_type
from cityplan.store.tables import DECLARED, Table, add_columns, ddl, ledger

logger = logging.getLogger(__name__)
T = TypeVar("T")

try:  # pyarrow makes reading ~40 % faster; everything works without it
    import pyarrow  # noqa: F401

    _ARROW = True
except ImportError:  # pragma: no cover
    _ARROW = False

_SQLITE_MAGIC = b"SQLite format 3\x00"


class _LibraryLock:
    """Keeps GDAL's SQLite and Python's ``sqlite3`` from using the one map at the same time in
    this process (each library may use it from many threads at once).

    pyogrio's GDAL wheels carry their own SQLite. POSIX locks belong to the process, and closing
    any descriptor of a file drops all of them (sqlite.org/howtocorrupt.html, 2.2.1): a GDAL read
    finishing while a ``sqlite3`` transaction of this process is open would release that
    transaction's locks, and GDAL, not seeing another library's lock, takes the live journal for
    a crashed one ("attempt to write a readonly database"). Other processes are unaffected (their
    locks are their own), and writers of all processes are serialised by the ``.lock`` file.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holder: str | None = None
        self._count = 0

    @contextlib.contextmanager
    def __call__(self, library: str) -> Iterator[None]:
        with self._cond:
            while self._count and self._holder != library:
                self._cond.wait()
            self._holder = library
            self._count += 1
        try:
            yield
        finally:
            with self._cond:
                self._count -= 1
                if not self._count:
                    self._holder = None
                    self._cond.notify_all()


_LIBRARY = _LibraryLock()

#: while another process commits, GDAL's read-only open can fail for a few milliseconds (it may
#: then also report a table being appended to as "not registered")
_TRANSIENT = ("attempt to write a readonly database", "database is locked", "is not registered in gpkg_contents")


def _while_writing(fn: Callable[..., T], *args: object, **kw: object) -> T:
    """Call a pyogrio reader (never alongside this process's ``sqlite3`` use of the file),
    retrying (up to ~5 s) while another process's commit is in flight."""
    delay = 0.005
    deadline = time.monotonic() + 5.0
    while True:
        try:
            with _LIBRARY("gdal"):
                return fn(*args, **kw)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            if not any(t in str(exc) for t in _TRANSIENT) or time.monotonic() > deadline:
                raise
            logger.debug("GeoPackage busy (%s); retrying", str(exc).splitlines()[0][:80])
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class GpkgStore(Store):
    """A one map in a GeoPackage file."""

    kind = "gpkg"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._layers: dict[str, str | None] | None = None
        self._layers_key: tuple[float, int] | None = None
        self._shared: SqliteState | None = None

    # -- inspection -------------------------------------------------------------------------
    @property
    def label(self) -> str:  # noqa: D102
        return str(self.path)

    def _stat_key(self) -> tuple[float, int]:
        st = self.path.stat()
        return (st.st_mtime, st.st_ino)

    def _geometry_types(self) -> dict[str, str | None]:
        key = self._stat_key()
        if self._layers is None or self._layers_key != key:
            try:  # the GeoPackage's own registry, read with sqlite3: GDAL would open the whole dataset
                with self._connect(readonly=True) as con:
                    listed = con.execute(
                        "SELECT c.table_name, c.data_type, g.geometry_type_name FROM gpkg_contents c "
                        "LEFT JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
                        "WHERE c.data_type IN ('features', 'attributes') "
                        "AND EXISTS (SELECT 1 FROM sqlite_master m WHERE m.name = c.table_name) "
                        "ORDER BY c.data_type != 'features', c.rowid").fetchall()
            except sqlite3.DatabaseError as exc:
                msg = (f"{self.path}: not a readable GeoPackage ({str(exc).splitlines()[0]}); "
                       "rebuild it with `cityplan build --overwrite` or pass another --onemap")
                raise OneMapError(msg) from None
            # features: their geometry type (GEOMETRY when unnamed); attribute tables: None
            self._layers = {str(n): (str(g or "GEOMETRY") if kind == "features" else None) for n, kind, g in listed}
            self._layers_key = key
        return self._layers

    def exists(self) -> bool:  # noqa: D102
        try:
            self.check()
        except OneMapError:
            return False
        return True

    def check(self) -> None:  # noqa: D102
        p = self.path
        if not p.exists():
            msg = f"{p}: one map not found; run `cityplan build` first (or pass --onemap FILE|URL)"
            raise OneMapError(msg)
        if p.is_dir():
            msg = f"{p}: is a folder, not a one-map GeoPackage; pass the .gpkg file"
            raise OneMapError(msg)
        with p.open("rb") as f:
            head = f.read(16)
        if len(head) == 0:
            msg = f"{p}: empty file (0 bytes), not a one map; rebuild with `cityplan build --overwrite`"
            raise OneMapError(msg)
        if head != _SQLITE_MAGIC:
            msg = (f"{p}: not a GeoPackage (no SQLite header); pass the .gpkg that `cityplan build` "
                   "wrote, or a postgresql:// URL")
            raise OneMapError(msg)
        try:
            with self._connect(readonly=True) as con:
                ok = con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?",
                                 (INFO_TABLE,)).fetchone()[0]
                pages = con.execute("PRAGMA page_count").fetchone()[0]
                size = con.execute("PRAGMA page_size").fetchone()[0]
            if p.stat().st_size < pages * size:
                msg = (f"{p}: truncated GeoPackage ({p.stat().st_size:,} of {pages * size:,} bytes); "
                       "rebuild it with `cityplan build --overwrite`")
                raise OneMapError(msg)
        except sqlite3.DatabaseError as exc:
            msg = (f"{p}: damaged GeoPackage ({exc}); rebuild it with `cityplan build --overwrite`")
            raise OneMapError(msg) from None
        if not ok:
            msg = (f"{p}: a GeoPackage but not a cityplan one map (no {INFO_TABLE} table); "
                   "build one with `cityplan build`")
            raise OneMapError(msg)
        self._geometry_types()

    def list_tables(self) -> tuple[str, ...]:  # noqa: D102
        return tuple(self._geometry_types())

    # -- reading ----------------------------------------------------------------------------
    def read(self, name: str, *, bbox: tuple[float, float, float, float] | None = None,
             columns: Sequence[str] | None = None, where: Mapping[str, str | int] | None = None,
             ) -> pd.DataFrame:  # noqa: D102
        types = self._geometry_types()
        if name not in types:
            msg = f"{self.path}: no layer or table {name!r}; it holds {sorted(types)}"
            raise OneMapError(msg)
        kw: dict[str, object] = {"layer": name, "use_arrow": _ARROW}
        if columns is not None:
            kw["columns"] = list(columns)
        if where:
            kw["where"] = self._where(name, where)
        try:
            if types[name] is None:
                return _while_writing(pyogrio.read_dataframe, self.path, read_geometry=False, **kw)
            if bbox is not None:
                kw["bbox"] = tuple(bbox)
            return _while_writing(pyogrio.read_dataframe, self.path, **kw)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            msg = (f"{self.path}: layer {name!r} unreadable ({str(exc).splitlines()[0]}); the file is "
                   "damaged - rebuild it with `cityplan build --overwrite`")
            raise OneMapError(msg) from None

    def _where(self, name: str, where: Mapping[str, str | int]) -> str:
        """An OGR SQL equality filter: columns checked against the table's, values quoted."""
        with self._connect(readonly=True) as con:  # the table's columns without opening it in GDAL
            fields = {r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (name,))}
        parts = []
        for col, value in where.items():
            if col not in fields:
                msg = f"{self.path}: {name} has no column {col!r}; it has {sorted(fields)}"
                raise OneMapError(msg)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                lit = str(int(value))
            else:
                lit = "'" + str(value).replace("'", "''") + "'"
            parts.append('"' + col.replace('"', '""') + '" = ' + lit)
        return " AND ".join(parts)

    # -- writing ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self, *, readonly: bool = False, path: Path | None = None) -> Iterator[sqlite3.Connection]:
        p = path or self.path
        # readers open read-write but only read: a read-only connection cannot roll back a hot
        # journal left by a concurrent writer and fails with "attempt to write a readonly database"
        # (mode=rw never creates a missing file, and opens read-only where the file is write-protected)
        uri = f"file:{p}?mode=rw" if readonly else f"file:{p}"
        with _LIBRARY("sqlite3"):
            con = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
            try:
                yield con
            finally:
                con.close()

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def replace_map(self, payload: BuildPayload, *, overwrite: bool,  # noqa: D102
                    keep: int = DEFAULT_KEEP) -> None:
        from cityplan.io.write import atomic_path

        if self.path.exists() and not overwrite:
            msg = f"{self.path}: output exists; pass --overwrite to replace it"
            raise OutputExistsError(msg)
        with self._write_lock():
            carried = self._append_only_tables()
            old_info = self._file_info(self.path) if self.path.exists() else {}
            # without --overwrite the rename is exclusive: of two builds racing to a new file, the
            # second refuses instead of replacing the first
            with atomic_path(self.path, overwrite=overwrite) as tmp:
                for name, df in payload.layers.items():
                    pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG", append=tmp.exists())
                for name, df in ((n, d) for n, d in (
                        ("cityplan_catalog", payload.catalog), ("cityplan_ledger", payload.ledger),
                        (PROFILE_TABLE, payload.profile),
                        (INFO_TABLE, pd.DataFrame({"key": list(payload.info),
                                                   "value": list(payload.info.values())})))):
                    pyogrio.write_dataframe(_nonempty(df), tmp, layer=name, driver="GPKG",
                                            append=tmp.exists())
                with self._connect(path=tmp) as con:
                    con.execute("BEGIN")
                    for name, df in carried.items():
                        _carry(con, name, df)
                    _write_styles(con, payload)
                    con.execute("COMMIT")
                if keep > 1:
                    self._keep_old(old_info)
            if keep >= 1:
                self._prune(keep - 1)
        self._layers = None

    # -- build history ----------------------------------------------------------------------
    @property
    def history_dir(self) -> Path:
        """Where earlier builds are kept: ``MAP.gpkg.builds/`` beside the map."""
        return self.path.with_name(self.path.name + ".builds")

    def _file_info(self, path: Path) -> dict[str, str]:
        """The build info of a GeoPackage file ({} when it is not a readable one map)."""
        try:
            with self._connect(readonly=True, path=path) as con:
                return dict(con.execute(f'SELECT "key", "value" FROM "{INFO_TABLE}"').fetchall())  # noqa: S608
        except sqlite3.Error:
            return {}

    def _keep_old(self, info: dict[str, str]) -> None:
        """Keep the file about to be replaced (a hard link: no copy) under its build id."""
        bid = str(info.get("build_id", ""))
        if not bid.isalnum():
            return
        stamp = "".join(ch for ch in str(info.get("built_at", ""))[:19] if ch.isdigit())
        self.history_dir.mkdir(exist_ok=True)
        target = self.history_dir / f"{stamp}_{bid}.gpkg"
        if target.exists():
            return
        try:
            os.link(self.path, target)
        except OSError:  # a file system without hard links: a copy
            import shutil

            shutil.copy2(self.path, target)

    def _history_files(self) -> list[Path]:
        """Kept earlier builds, newest first."""
        if not self.history_dir.is_dir():
            return []
        return sorted(self.history_dir.glob("*_*.gpkg"), key=lambda p: p.name, reverse=True)

    def _prune(self, keep_old: int) -> None:
        for old in self._history_files()[keep_old:]:
            old.unlink(missing_ok=True)
            for side in (".lock", ".state", "-journal", "-wal", "-shm"):  # left by readers of the kept build
                old.with_name(old.name + side).unlink(missing_ok=True)
            logger.info("%s: removed the kept build %s", self.path, old.name)

    def builds(self) -> pd.DataFrame:  # noqa: D102
        rows = []
        for path, current in [(self.path, True), *((p, False) for p in self._history_files())]:
            info = self._file_info(path)
            rows.append({"build_id": info.get("build_id", ""), "built_at": info.get("built_at", ""),
                         "current": current, "profile_sha256": info.get("profile_sha256", ""),
                         "sources_sha256": info.get("sources_sha256", ""), "location": str(path)})
        return pd.DataFrame(rows, columns=BUILD_COLUMNS)

    def _append_only_tables(self) -> dict[str, pd.DataFrame]:
        """Tables of the current file that a rebuild must keep (progress, audit, reviews...)."""
        if not self.path.exists():
            return {}
        try:
            with self._connect(readonly=True) as con:
                names = [r[0] for r in con.execute(
                    "SELECT table_name FROM gpkg_contents WHERE data_type = 'attributes'")]
                keep = [n for n in names if n.startswith("cityplan_") and n not in BUILD_TABLES
                        and n != CACHE_TABLE]
                # fid is the table's own key: the copy gets new ones in the same order
                return {n: pd.read_sql_query(f'SELECT * FROM "{n}" ORDER BY fid', con).drop(columns="fid")  # noqa: S608
                        for n in keep}
        except sqlite3.DatabaseError:
            logger.warning("%s: could not read the append-only tables of the old map", self.path)
            return {}

    # -- caches -----------------------------------------------------------------------------
    def read_cache(self, key: str, build: str) -> dict[str, np.ndarray] | None:  # noqa: D102
        if CACHE_TABLE not in self._sqlite_tables():
            return None
        with self._connect(readonly=True) as con:
            rows = con.execute(f"SELECT name, dtype, shape, data FROM {CACHE_TABLE} "
                               "WHERE key = ? AND build = ?", (key, build)).fetchall()
        return arrays_from_rows(rows) if rows else None

    def write_cache(self, key: str, build: str, arrays: Mapping[str, np.ndarray]) -> None:  # noqa: D102
        rows = arrays_to_rows(arrays)
        try:
            with self._write_lock(), self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                con.execute(f"CREATE TABLE IF NOT EXISTS {CACHE_TABLE} (key TEXT, build TEXT, "
                            "name TEXT, dtype TEXT, shape TEXT, data BLOB)")
                con.execute(f"DELETE FROM {CACHE_TABLE} WHERE key = ?", (key,))
                con.executemany(f"INSERT INTO {CACHE_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                                [(key, build, *r) for r in rows])
                con.execute("COMMIT")
            self._layers = None
        except (OSError, sqlite3.OperationalError) as exc:
            logger.info("%s: cache %s not written (%s)", self.path, key, exc)

    def _sqlite_tables(self) -> set[str]:
        with self._connect(readonly=True) as con:
            return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    # -- append-only tables -----------------------------------------------------------------
    def append_rows(self, table: str, rows: pd.DataFrame, *, key: Sequence[str] = ()) -> int:  # noqa: D102
        ledger(table, key)
        return self.append_many({table: rows})[table]

    def append_many(self, batches: Mapping[str, pd.DataFrame]) -> dict[str, int]:  # noqa: D102
        prepared = [(spec, spec.values(spec.conform(rows))) for spec, rows in
                    ((ledger(t), r) for t, r in batches.items())]
        counts: dict[str, int] = {}
        with self._write_lock(), self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                for spec, data in prepared:
                    counts[spec.name] = _insert_declared(con, spec, data)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self._layers = None
        return counts

    # -- shared state -------------------------------------------------------------------------
    def shared(self) -> SqliteState:
        """Sessions and failed logins in a SQLite file beside the map (``MAP.gpkg.state``): kept
        across rebuilds, shared by every server process on this host, and never waiting for
        this process's GDAL reads of the map."""
        if self._shared is None:
            self._shared = SqliteState(self.path.with_name(self.path.name + ".state"))
        return self._shared


def _insert_declared(con: sqlite3.Connection, spec: Table, data: list[tuple]) -> int:
    """Create the declared table if needed (registered in gpkg_contents) and insert the rows
    whose key is not there yet (the unique key index decides)."""
    _ensure(con, spec)
    if not data:
        return 0
    before = con.total_changes
    cols = ", ".join(f'"{c}"' for c in spec.names)
    marks = ", ".join("?" for _ in spec.names)
    con.executemany(f'INSERT OR IGNORE INTO "{spec.name}" ({cols}) VALUES ({marks})', data)  # noqa: S608
    return con.total_changes - before


def _ensure(con: sqlite3.Connection, spec: Table) -> None:
    """The declared table, index and gpkg_contents row (a table an older version wrote gains the
    declared columns and the unique key)."""
    have = [r[1] for r in con.execute(f'PRAGMA table_info("{spec.name}")')]
    if have:
        for stmt in add_columns(spec, have, "sqlite"):
            con.execute(stmt)
    for stmt in ddl(spec, "sqlite"):
        con.execute(stmt)
    if not have:
        _register(con, spec.name)


def _register(con: sqlite3.Connection, table: str) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    con.execute("INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, "
                "description, last_change) VALUES (?, 'attributes', ?, '', ?)", (table, table, now))


def _carry(con: sqlite3.Connection, table: str, rows: pd.DataFrame) -> None:
    """Copy an append-only table of the old map into the new file: a declared table as declared
    (columns an older version added kept beside), any other as it was."""
    spec = DECLARED.get(table)
    if spec is None:
        _create_and_insert(con, table, rows)
        return
    _ensure(con, spec)
    have = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
    for c in rows.columns:
        if c not in have:
            con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{c}" {sql_type(rows[c])}')
    if len(rows):
        cols = ", ".join(f'"{c}"' for c in rows.columns)
        marks = ", ".join("?" for _ in rows.columns)
        con.executemany(f'INSERT OR IGNORE INTO "{table}" ({cols}) VALUES ({marks})',  # noqa: S608
                        [tuple(_py(v) for v in r) for r in rows.itertuples(index=False, name=None)])


def _nonempty(df: pd.DataFrame) -> pd.DataFrame:
    """pyogrio refuses a table with no columns; an empty ledger keeps its column names."""
    if len(df.columns):
        return df
    return pd.DataFrame({"note": pd.Series(dtype="object")})


def _create_and_insert(con: sqlite3.Connection, table: str, rows: pd.DataFrame, *,
                       key: Sequence[str] = ()) -> int:
    """Create ``table`` (registered in gpkg_contents) if needed and insert ``rows`` not yet there."""
    q = '"' + table.replace('"', '""') + '"'
    exists = con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    if not exists:
        cols = ", ".join(f'"{c}" {sql_type(rows[c])}' for c in rows.columns)
        con.execute(f"CREATE TABLE {q} (fid INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        con.execute("INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, "
                    "description, last_change) VALUES (?, 'attributes', ?, '', ?)", (table, table, now))
    else:
        have = {r[1] for r in con.execute(f"PRAGMA table_info({q})")}
        for c in rows.columns:
            if c not in have:
                con.execute(f'ALTER TABLE {q} ADD COLUMN "{c}" {sql_type(rows[c])}')
    data = rows
    if key and len(rows):
        kq = ", ".join(f'"{k}"' for k in key)
        seen = {tuple(r) for r in con.execute(f"SELECT {kq} FROM {q}")}  # noqa: S608
        mask = [tuple(_py(v) for v in r) not in seen
                for r in rows[list(key)].itertuples(index=False, name=None)]
        data = rows[mask]
    if not len(data):
        return 0
    cols = ", ".join(f'"{c}"' for c in data.columns)
    marks = ", ".join("?" for _ in data.columns)
    values = [tuple(_py(v) for v in r) for r in data.itertuples(index=False, name=None)]
    con.executemany(f"INSERT INTO {q} ({cols}) VALUES ({marks})", values)  # noqa: S608
    return len(values)


def _py(v: object) -> object:
    """A value SQLite can bind (numpy scalars, timestamps, NaN -> None)."""
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
        if isinstance(v, float) and np.isnan(v):
            return None
        return v
    if isinstance(v, pd.Timestamp | dt.datetime | dt.date):
        return v.isoformat()
    if v is pd.NaT or v is pd.NA:
        return None
    return v


def _write_styles(con: sqlite3.Connection, payload: BuildPayload) -> None:
    """QGIS's ``layer_styles`` table (default style per layer) and titles in ``gpkg_contents``."""
    con.execute(f"""CREATE TABLE IF NOT EXISTS {STYLES_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
        f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT,
        styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
        update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))""")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    con.execute("INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, "
                "description, last_change) VALUES (?, 'attributes', ?, ?, ?)",
                (STYLES_TABLE, STYLES_TABLE, "QGIS layer styles", now))
    for name, meta in payload.meta.items():
        con.execute("UPDATE gpkg_contents SET identifier = ?, description = ? WHERE table_name = ?",
                    (meta.title or name, meta.description, name))
        if meta.qml:
            geom_col = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                                   (name,)).fetchone()
            con.execute(f"INSERT INTO {STYLES_TABLE} (f_table_catalog, f_table_schema, f_table_name, "
                        "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                        "owner, ui) VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, 'cityplan', '')",
                        (name, geom_col[0] if geom_col else "", name, meta.qml, meta.sld,
                         f"cityplan default style for {meta.title or name}"))
